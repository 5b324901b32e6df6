//! Prints the `size_of` of the engine's main types, for the README's memory table.
//!
//! ```console
//! cargo run -p headroom --example sizes
//! ```

use core::mem::size_of;

use headroom::headers::Snapshot;
use headroom::{Acquire, Bucket, LaneConfig, Permit, Policy};

fn main() {
    println!("| type | bytes |");
    println!("|---|---|");
    println!("| `Bucket` | {} |", size_of::<Bucket>());
    println!("| `LaneConfig` | {} |", size_of::<LaneConfig>());
    println!("| `Permit` | {} |", size_of::<Permit>());
    println!("| `Acquire` | {} |", size_of::<Acquire>());
    println!("| `headers::Snapshot` | {} |", size_of::<Snapshot>());
    println!("| `Policy<1, 8>` | {} |", size_of::<Policy<1, 8>>());
    println!("| `Policy<4, 32>` | {} |", size_of::<Policy<4, 32>>());
    println!("| `Policy<8, 128>` | {} |", size_of::<Policy<8, 128>>());
}
