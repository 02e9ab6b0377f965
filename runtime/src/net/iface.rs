//! Interface name and index lookups through the C library.
//!
//! These are `ioctl`s on a throwaway socket of the current network
//! namespace: cheaper than a netlink round trip when only the number or the
//! name is needed.

use std::ffi::{CStr, CString};

/// The index of the interface `name` in the current netns, if it exists.
pub(crate) fn index_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call;
    // if_nametoindex only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// The name of the interface with `index` in the current netns, if any.
pub(crate) fn name_of(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, the size if_indextoname writes
    // at most (name plus NUL); it returns null and writes nothing useful on
    // failure, which is checked before `buf` is read.
    let found = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if found.is_null() {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&buf).ok()?;
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_round_trips() {
        // Every network namespace has `lo`; no privileges are needed to ask.
        let index = index_of("lo").expect("lo exists");
        assert_eq!(name_of(index).as_deref(), Some("lo"));
        assert_eq!(index_of("no-such-link0"), None);
        assert_eq!(index_of("bad\0name"), None);
    }
}
