//! CPU affinity of the calling thread: `sched_getaffinity` / `sched_setaffinity`, raw syscalls
//! with a mask sized to the kernel's (glibc's `cpu_set_t` stops at 1024 CPUs).

use std::io;

use super::cvt;

/// Bits in one word of the mask.
const WORD_BITS: usize = u64::BITS as usize;

/// The largest mask tried: 2^20 CPUs, far past any kernel's `NR_CPUS`.
const MAX_WORDS: usize = (1 << 20) / WORD_BITS;

/// The CPUs the calling thread may run on, in increasing order (never empty on success).
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // The kernel refuses (EINVAL) a mask smaller than its own cpumask: grow until it fits.
    let mut words = 1024 / WORD_BITS;
    loop {
        let mut mask = vec![0u64; words];
        // SAFETY: `mask` has `words * 8` writable bytes and we pass that length; pid 0 is the
        // calling thread. The kernel writes at most that many bytes and returns how many.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getaffinity,
                0 as libc::c_long,
                (words * 8) as libc::c_long,
                mask.as_mut_ptr(),
            )
        };
        match cvt(r) {
            Ok(_) => {
                let cpus: Vec<usize> = (0..words * WORD_BITS)
                    .filter(|&cpu| mask[cpu / WORD_BITS] & (1 << (cpu % WORD_BITS)) != 0)
                    .collect();
                return Ok(cpus);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && words < MAX_WORDS => words *= 2,
            Err(e) => return Err(e),
        }
    }
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
/// `sched_setaffinity`'s: `EINVAL` if `cpu` is not online or not allowed (cpuset), `EPERM`
/// under a policy that forbids it.
pub(crate) fn pin_to(cpu: usize) -> io::Result<()> {
    if cpu >= MAX_WORDS * WORD_BITS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut mask = vec![0u64; cpu / WORD_BITS + 1];
    mask[cpu / WORD_BITS] |= 1 << (cpu % WORD_BITS);
    // SAFETY: `mask` holds `mask.len() * 8` readable bytes and we pass that length; pid 0 is
    // the calling thread. The kernel only reads the mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0 as libc::c_long,
            (mask.len() * 8) as libc::c_long,
            mask.as_ptr(),
        )
    };
    cvt(r)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_pinned_to_an_allowed_cpu_runs_only_there() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        let cpu = *cpus.last().unwrap();
        let after = std::thread::spawn(move || {
            pin_to(cpu).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(after, vec![cpu]);
    }

    #[test]
    fn pinning_to_a_cpu_that_does_not_exist_is_einval() {
        let err = std::thread::spawn(|| pin_to(MAX_WORDS * WORD_BITS - 1).unwrap_err())
            .join()
            .unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        let err = pin_to(usize::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
