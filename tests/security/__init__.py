"""The attack suite (issue 7): black-box attacks over HTTP, fuzzing, per-request isolation."""
