//! The root filesystem: mounts, devices, masked and readonly paths, pivot_root.
