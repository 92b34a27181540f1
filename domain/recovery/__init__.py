"""Recovery: jobs that lost their worker or their broker message (``lost_jobs``, run by every
worker's reaper), and which workers are alive for which device counts (``worker_nodes``)."""
