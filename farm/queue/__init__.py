"""The job queue behind the service: the job store, its state machine, the scheduler, render drivers, bundles and job files."""
