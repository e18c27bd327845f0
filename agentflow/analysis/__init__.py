"""Built-in analyses for compute gather steps: stack traces, page references, suspect changes, backlog
grooming and interview transcripts (see `registry`)."""
