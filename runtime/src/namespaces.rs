//! linux.namespaces: new or joined, uid/gid mappings, time offsets.
