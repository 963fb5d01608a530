//! The pointers this library handed out and that are still live.
//!
//! A `_free` of a pointer the library never returned, or returned and was
//! already given back, would corrupt the host's heap. Every string and
//! program handle is recorded here when it is handed out and struck off
//! when it is freed, so such a call is refused (a no-op with a message)
//! instead. Calls on a program handle check it too. This catches a double
//! free and a call on a freed handle; it cannot catch a handle freed by
//! another thread while a call on it is running (the caller's bug still).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

/// Live strings, by address.
pub(crate) static STRINGS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
/// Live program handles, by address.
pub(crate) static PROGRAMS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
/// Live member handles, by address.
pub(crate) static MEMBERS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

fn lock(set: &'static Mutex<BTreeSet<usize>>) -> MutexGuard<'static, BTreeSet<usize>> {
    // A panic while the lock was held cannot leave the set half-changed
    // (one insert or remove): go on with it.
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records a pointer handed out.
pub(crate) fn add<T>(set: &'static Mutex<BTreeSet<usize>>, ptr: *const T) {
    lock(set).insert(ptr as usize);
}

/// Strikes a pointer off; false if it was not live.
pub(crate) fn take<T>(set: &'static Mutex<BTreeSet<usize>>, ptr: *const T) -> bool {
    lock(set).remove(&(ptr as usize))
}

/// Frees a live pointer of `set` with `drop_it`, striking it off; NULL is a
/// no-op. A pointer that is not live is left alone: the thread's last error
/// becomes `"<refusal>, or freed already; nothing was freed"`. Nothing
/// unwinds out (a free runs inside the host's cleanup).
pub(crate) fn free<T>(set: &'static Mutex<BTreeSet<usize>>, ptr: *mut T, refusal: &str, drop_it: impl FnOnce(*mut T)) {
    if ptr.is_null() {
        return;
    }
    if !take(set, ptr) {
        let _ = std::panic::catch_unwind(|| {
            crate::error::set_last_error(format!("{refusal}, or freed already; nothing was freed"))
        });
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop_it(ptr)));
}

/// Whether a pointer is live.
pub(crate) fn is_live<T>(set: &'static Mutex<BTreeSet<usize>>, ptr: *const T) -> bool {
    lock(set).contains(&(ptr as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_live_from_add_to_take() {
        static SET: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
        let x = 7_u8;
        assert!(!is_live(&SET, &x));
        add(&SET, &x);
        assert!(is_live(&SET, &x));
        assert!(take(&SET, &x));
        assert!(!take(&SET, &x), "a second take is refused");
    }
}
