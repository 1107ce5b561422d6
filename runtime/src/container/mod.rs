//! Container creation, init and exec.
