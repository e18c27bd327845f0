"""Built-in analyses for compute gather steps: stack traces, page references, change ranking, backlog grooming, transcripts."""
