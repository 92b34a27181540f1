"""A new job defaults to the held_out protocol; a job stored before protocols existed reads as literature."""

from domain.jobs.job_request import JobRequest
from domain.jobs.validation import stored_request
from service.db.models import Job

REQUEST = {"dataset": "digits", "student": "resnet8", "method": "ce", "seed": 0}


def test_new_jobs_hold_out_and_old_rows_keep_the_literatures_protocol():
    new = stored_request(Job(spec={**REQUEST, "protocol": "held_out", "holdout_fraction": 0.1}))
    assert new.protocol == "held_out" and new.holdout_fraction == 0.1
    assert stored_request(Job(spec=REQUEST)).protocol == "literature"  # a row written before protocols
    assert JobRequest(**REQUEST).protocol == "held_out"
