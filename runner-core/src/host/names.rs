//! Actor names, shared between the actors that bear them.

use std::collections::HashSet;
use std::sync::Arc;

/// Names worth sharing: a runner hosts many actors of few names, so each
/// context points at one shared copy instead of owning its own. The engine
/// chooses the names, so the set is bounded: past [`Names::MAX_NAMES`]
/// names, or for a name over [`Names::MAX_LEN`] bytes, each actor gets its
/// own copy (correct, only less compact).
#[derive(Debug, Default)]
pub(crate) struct Names {
    shared: HashSet<Arc<str>>,
}

impl Names {
    pub(crate) const MAX_NAMES: usize = 1024;
    pub(crate) const MAX_LEN: usize = 256;

    /// The shared copy of `name`, made on first use.
    pub(crate) fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.shared.get(name) {
            return shared.clone();
        }
        let name: Arc<str> = Arc::from(name);
        if self.shared.len() < Self::MAX_NAMES && name.len() <= Self::MAX_LEN {
            self.shared.insert(name.clone());
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_stored_once() {
        let mut names = Names::default();
        let a = names.get("counter");
        let b = names.get("counter");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &names.get("chat")));
    }

    #[test]
    fn the_set_is_bounded_in_count_and_length() {
        let mut names = Names::default();
        for i in 0..Names::MAX_NAMES + 10 {
            assert_eq!(&*names.get(&format!("n{i}")), format!("n{i}"));
        }
        assert_eq!(names.shared.len(), Names::MAX_NAMES);
        let past = names.get("one more");
        assert!(!Arc::ptr_eq(&past, &names.get("one more")));
        let mut names = Names::default();
        let long = "x".repeat(Names::MAX_LEN + 1);
        assert_eq!(&*names.get(&long), long);
        assert!(names.shared.is_empty());
    }
}
