"""Datasets: registered where they live or uploaded, then ingested by a worker into shards.

Coming in (the API's side):
    registration, upload_sessions, archive_kinds   a dataset registered or uploaded, ``ingesting``
    sources                                        the allow-list of s3:// prefixes (SDD_DATASET_SOURCES)
    storage_quota                                  a tenant's bytes against SDD_TENANT_STORAGE_QUOTA_BYTES
    uploaded_datasets                              reads of a tenant's datasets
    builtin_datasets                               digits and CIFAR on this server: present, downloadable, missing
Ingested (a worker's side, ``worker.ingestion``):
    ingestion                                      the transitions: claim, lease, progress, ready, failed
    ingestion_run                                  one attempt, from the source to the ready facts
    source_files, source_listing                   a source's files, listed and read
    layouts, cub200_layout, imagenet_layout        the layouts as distributed, detected and parsed
    shard_building, image_facts, sample_grid       images into stored shards, statistics, the grid
    registered_shards                              WebDataset shards indexed where they lie
    stored_shards                                  where the shards, index and grid are stored
    archives                                       an uploaded archive extracted safely
    ingestion_errors, ingestion_report             why an ingestion fails; how it reports progress
"""
