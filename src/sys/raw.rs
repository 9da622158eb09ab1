//! Direct system calls, without libc's `syscall()` in between.
//!
//! glibc's `syscall()` is a real function call that shuffles all seven arguments into place
//! and goes through `errno`; on the three calls of a round trip (`recvfrom`, `sendto`,
//! `epoll_pwait2`) that was a tenth of geode's user-space instructions. On x86_64 and aarch64
//! the instruction is issued inline and the kernel's `-errno` return is turned into an
//! `io::Error` directly; elsewhere libc's `syscall()` does it.

use std::io;

/// Issues syscall `nr` with six arguments (unused ones zero). Returns the kernel's result, or
/// its error as an `io::Error` with the raw errno.
///
/// # Safety
/// The caller upholds the syscall's contract: every pointer argument is valid for what the
/// kernel reads or writes through it, for the whole call.
#[inline]
pub(crate) unsafe fn syscall6(nr: libc::c_long, args: [usize; 6]) -> io::Result<usize> {
    // SAFETY: the caller guarantees the arguments are valid for syscall `nr`.
    let ret = unsafe { issue(nr, args) };
    // The kernel returns -4095..=-1 for errors: as unsigned, everything from -4095 up.
    if ret as usize >= -4095isize as usize {
        Err(io::Error::from_raw_os_error(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn issue(nr: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // The x86_64 Linux convention: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9,
    // result in rax. Memory is not marked untouched: the kernel may read and write the
    // caller's buffers.
    // SAFETY: the caller guarantees those buffers are valid; `syscall` clobbers only rcx and
    // r11 (declared) and never touches the user stack (nostack).
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn issue(nr: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // The aarch64 Linux convention: number in x8, arguments in x0..x5, result in x0.
    // SAFETY: as on x86_64: the caller guarantees the buffers; `svc 0` clobbers nothing else
    // and never touches the user stack.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a[0] as isize => ret,
            in("x1") a[1],
            in("x2") a[2],
            in("x3") a[3],
            in("x4") a[4],
            in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline]
unsafe fn issue(nr: libc::c_long, a: [usize; 6]) -> isize {
    // SAFETY: forwarded to libc's generic wrapper under the caller's guarantee.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        r as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_the_kernels_errno() {
        // SAFETY: close takes no pointer; -1 is never an open fd.
        let err = unsafe { syscall6(libc::SYS_close, [usize::MAX, 0, 0, 0, 0, 0]) }.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn results_come_back() {
        // SAFETY: getpid takes no argument.
        let pid = unsafe { syscall6(libc::SYS_getpid, [0; 6]) }.unwrap();
        assert_eq!(pid, std::process::id() as usize);
    }
}
