//! The retry schedule: exponential backoff with jitter, Retry-After policy, retry budget.
