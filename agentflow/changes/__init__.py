"""Staged writes, from the model's call to the site: `plan` stages a write tool call as a `Change` of the
run's change plan (placeholders, validation, limits, how a change reads); `apply` executes an approved plan
in order, journaled, exactly once (looking up what an interrupted change made before making it again)."""
