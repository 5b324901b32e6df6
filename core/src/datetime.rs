//! Wall-clock dates and Go-style durations as found in rate-limit headers.
