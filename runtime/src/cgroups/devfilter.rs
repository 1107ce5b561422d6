//! The cgroup v2 device controller: device rules compiled to a BPF_PROG_TYPE_CGROUP_DEVICE
//! program (the same shape as runc's devicefilter). Rules are checked last to first, the
//! first one that matches decides; nothing matching means deny (the list starts from
//! "deny all", as on v1).
//!
//! The program's context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, access_type = (access << 16) | type.

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes (class | op | source).
const LDXW: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const MOV32_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// One rule: type 'a' / 'b' / 'c', None for a `*` number, access as BPF bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: i32,
}

/// Parse the kernel's rule text ("c 1:3 rwm", "a *:* rwm").
pub fn parse(allow: bool, s: &str) -> Option<Rule> {
    let mut it = s.split(' ');
    let typ = it.next()?.chars().next()?;
    let (maj, min) = it.next()?.split_once(':')?;
    let num = |x: &str| -> Option<Option<u32>> {
        if x == "*" {
            Some(None)
        } else {
            x.parse().ok().map(Some)
        }
    };
    let mut access = 0;
    for c in it.next().unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    if !matches!(typ, 'a' | 'b' | 'c') {
        return None;
    }
    Some(Rule {
        allow,
        typ,
        major: num(maj)?,
        minor: num(min)?,
        access,
    })
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from((src << 4) | (dst & 0xf)) << 8)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

/// The program for `rules` (in config order).
pub fn program(rules: &[Rule]) -> Vec<u64> {
    let mut p = vec![
        insn(LDXW, 2, 1, 0, 0), // r2 = type
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDXW, 3, 1, 0, 0), // r3 = access
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDXW, 4, 1, 4, 0), // r4 = major
        insn(LDXW, 5, 1, 8, 0), // r5 = minor
    ];
    for r in rules.iter().rev() {
        // Conditions; each ends with a "jump past this block" whose offset is set below.
        let mut block: Vec<(u8, u8, u8, i32, bool)> = Vec::new();
        match r.typ {
            'b' => block.push((JNE_K, 2, 0, DEV_BLOCK, true)),
            'c' => block.push((JNE_K, 2, 0, DEV_CHAR, true)),
            _ => {}
        }
        if r.access & ACC_ALL != ACC_ALL {
            // match only if the requested access is a subset of the rule's
            block.push((MOV32_X, 1, 3, 0, false));
            block.push((AND32_K, 1, 0, r.access, false));
            block.push((JNE_X, 1, 3, 0, true));
        }
        if let Some(m) = r.major {
            block.push((JNE_K, 4, 0, m as i32, true));
        }
        if let Some(m) = r.minor {
            block.push((JNE_K, 5, 0, m as i32, true));
        }
        let unconditional = block.is_empty();
        let len = block.len() + 2;
        for (i, (code, dst, src, imm, jump)) in block.into_iter().enumerate() {
            let off = if jump { (len - 1 - i) as i16 } else { 0 };
            p.push(insn(code, dst, src, off, imm));
        }
        p.push(insn(MOV32_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if unconditional {
            // Every earlier rule is shadowed (and unreachable code is refused).
            return p;
        }
    }
    p.push(insn(MOV32_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parse_rules() {
        let r = parse(true, "c 1:3 rwm").unwrap();
        assert_eq!(
            (r.typ, r.major, r.minor, r.access),
            ('c', Some(1), Some(3), 7)
        );
        let r = parse(false, "a *:* rwm").unwrap();
        assert_eq!((r.typ, r.major, r.minor), ('a', None, None));
        assert_eq!(
            parse(true, "c 136:* rw").unwrap().access,
            ACC_READ | ACC_WRITE
        );
        assert!(parse(true, "x 1:1 r").is_none());
    }

    #[test]
    fn shapes() {
        // deny-all alone: prologue + one unconditional block, no default.
        let p = program(&[parse(false, "a *:* rwm").unwrap()]);
        assert_eq!(p.len(), 8);
        // c 1:3 rwm: type, major, minor checks + accept; then the default.
        let p = program(&[parse(true, "c 1:3 rwm").unwrap()]);
        assert_eq!(p.len(), 6 + 5 + 2);
        // The first jump skips the remaining 4 instructions of its block.
        assert_eq!(p[6], insn(JNE_K, 2, 0, 4, DEV_CHAR));
        assert_eq!(p[6] & 0xff, 0x55);
        assert_eq!((p[6] >> 16) & 0xffff, 4);
        assert_eq!(p[6] >> 32, 2);
    }
}
