//! Several nodes on one PostgreSQL: who this node is, what one node tells the others (in the
//! transaction of the change it announces), the listener that applies what the others say, and
//! the leases that let a live node close a dead one's calls.

pub mod announce;
pub mod leases;
pub mod listener;
pub mod node;
