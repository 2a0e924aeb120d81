"""mixfarm's farm layer: sessions, the compiler, executors, the job store and the CLI."""
