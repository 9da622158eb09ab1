//! The conversions every socket type has: `TryFrom` its std type (`from_std`), `AsFd` and
//! `AsRawFd` (the fd of its `io::Async`). Written once, expanded for each type.

/// `fd_traits!(Type => std::Type, ...)`: each `Type` has `fn from_std(std::Type) ->
/// io::Result<Type>` and an `io: io::Async<_>` field.
macro_rules! fd_traits {
    ($($ty:ty => $std:ty),* $(,)?) => {$(
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            fn try_from(s: $std) -> std::io::Result<$ty> {
                <$ty>::from_std(s)
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.io)
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.io)
            }
        }
    )*};
}
pub(crate) use fd_traits;
