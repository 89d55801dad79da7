//! One way to spread independent work over threads: [`map`] runs a function over a slice on up
//! to `jobs` threads (the caller's among them) and returns the results in order.
//!
//! For: the run's short fan-outs — probing sources, fetching remote sources, materialising
//! whole-clip hits. Not for: the decode pipeline, whose threads stream through bounded queues.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` over every item, on up to `jobs` threads (at least one: the caller's), results in item
/// order. Items are handed out one at a time, so a slow item never holds up the others' threads.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = f(item);
            *results[i].lock().expect("result slot") = Some(r);
        };
        for _ in 1..jobs.min(items.len()) {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("result slot").expect("every item was mapped"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_item_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..100).collect();
        for jobs in [0, 1, 3, 200] {
            let out = super::map(&items, jobs, |&x| {
                std::thread::sleep(std::time::Duration::from_micros(100 - x));
                x * 2
            });
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(super::map(&[] as &[u8], 4, |_| 0).is_empty());
    }
}
