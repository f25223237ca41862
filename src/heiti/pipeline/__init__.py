"""The scenario pipeline: train, optimize (the checked, cached chain), test (the inference loop),
measurements and report; matrix cells and AutoML trials run through the same steps.

Named `pipeline` (it was `flow`, easily confused with `flows`, the streaming flows of
`heiti flow`, and `workflows`, the cached step graphs of `heiti workflow`)."""
