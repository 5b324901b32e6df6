//! Response classification: rate-limited, overloaded, transient, spend cap, fatal.
