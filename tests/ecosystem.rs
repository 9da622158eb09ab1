//! geode's streams in the I/O ecosystems: tokio's traits (the `tokio-io` feature) under
//! `tokio_util::codec`, `futures-io`'s under `futures_util::io` and async-compression; and
//! runtime-agnostic channels (flume, async-channel, futures-channel) on geode's executor.

#![allow(unused_imports)] // with neither feature on, nothing here is compiled

use std::future::Future;
use std::io;
use std::time::Duration;

mod util;
use util::pattern;

/// Fails the test instead of hanging it.
#[allow(dead_code)]
async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    util::bounded(10, what, fut).await
}

#[cfg(feature = "tokio-io")]
mod tokio_io {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use geode::net::{TcpListener, TcpStream, UnixStream};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio_util::bytes::BytesMut;
    use tokio_util::codec::{Encoder, Framed, FramedRead, LinesCodec};

    /// Sends one line through the frame's `Sink` side (the codec encodes, the geode stream's
    /// tokio `AsyncWrite` writes and flushes).
    async fn send_line(framed: &mut Framed<TcpStream, LinesCodec>, line: &str) -> io::Result<()> {
        framed.send(line).await.map_err(io::Error::other)
    }

    #[test]
    fn framed_lines_codec_over_tcp_both_ways() -> io::Result<()> {
        geode::block_on(bounded("framed lines", async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            // The server shouts back every line until "bye".
            let server = geode::spawn(async move {
                let (stream, _) = listener.accept().await?;
                let mut framed = Framed::new(stream, LinesCodec::new());
                let mut seen = 0;
                while let Some(line) = framed.next().await {
                    let line = line.map_err(io::Error::other)?;
                    seen += 1;
                    send_line(&mut framed, &line.to_uppercase()).await?;
                    if line == "bye" {
                        break;
                    }
                }
                Ok::<_, io::Error>(seen)
            });

            let mut client = Framed::new(TcpStream::connect(addr).await?, LinesCodec::new());
            let long = "x".repeat(100_000); // many reads for one frame
            for line in ["hello", "geode", &long, "", "bye"] {
                send_line(&mut client, line).await?;
                let back = client
                    .next()
                    .await
                    .expect("a reply")
                    .map_err(io::Error::other)?;
                assert_eq!(back, line.to_uppercase());
            }
            assert!(client.next().await.is_none(), "the server closed after bye");
            assert_eq!(server.await??, 5);
            Ok(())
        }))
    }

    #[test]
    fn framed_read_and_write_halves_of_one_stream() -> io::Result<()> {
        // `&TcpStream` implements tokio's traits too: a reader and a writer on one socket.
        geode::block_on(bounded("halves", async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let client = TcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            let echo = geode::spawn(async move {
                let mut lines = FramedRead::new(&server, LinesCodec::new());
                let mut writer = &server;
                while let Some(line) = lines.next().await {
                    let line = line.map_err(io::Error::other)?;
                    AsyncWriteExt::write_all(&mut writer, format!("{line}!\n").as_bytes()).await?;
                }
                AsyncWriteExt::shutdown(&mut writer).await
            });
            let mut replies = FramedRead::new(&client, LinesCodec::new());
            let mut writer = &client;
            for i in 0..100 {
                AsyncWriteExt::write_all(&mut writer, format!("line {i}\n").as_bytes()).await?;
            }
            AsyncWriteExt::shutdown(&mut writer).await?; // EOF for the echo task
            let mut n = 0;
            while let Some(line) = replies.next().await {
                assert_eq!(line.map_err(io::Error::other)?, format!("line {n}!"));
                n += 1;
            }
            assert_eq!(n, 100);
            echo.await??;
            Ok(())
        }))
    }

    #[test]
    fn tokio_copy_and_buf_reader_lines() -> io::Result<()> {
        geode::block_on(bounded("tokio copy", async {
            let (a, b) = UnixStream::pair()?;
            let data = pattern(3 << 20);
            let expected = data.clone();
            let writer = geode::spawn(async move {
                let mut a = a;
                tokio::io::copy(&mut data.as_slice(), &mut a).await?;
                AsyncWriteExt::shutdown(&mut a).await?;
                Ok::<_, io::Error>(a)
            });
            let mut got = Vec::new();
            let mut b = b;
            let n = tokio::io::copy(&mut b, &mut got).await?;
            assert_eq!(n, expected.len() as u64);
            assert!(got == expected);
            let a = writer.await??;

            // Lines the other way, through tokio's BufReader.
            AsyncWriteExt::write_all(&mut b, b"one\ntwo\r\nthree").await?;
            AsyncWriteExt::shutdown(&mut b).await?;
            let mut lines = BufReader::new(a).lines();
            let mut all = Vec::new();
            while let Some(line) = lines.next_line().await? {
                all.push(line);
            }
            assert_eq!(all, ["one", "two", "three"]);
            let mut rest = Vec::new();
            lines.into_inner().read_to_end(&mut rest).await?;
            assert!(rest.is_empty());
            Ok(())
        }))
    }
}

#[cfg(feature = "futures-io")]
mod futures_io {
    use super::*;
    use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Cursor, copy};
    use futures_util::{StreamExt, TryStreamExt, future};
    use geode::net::{TcpListener, TcpStream, UnixStream};

    #[test]
    fn copy_megabytes_through_a_unix_pair() -> io::Result<()> {
        geode::block_on(bounded("copy", async {
            let (mut a, mut b) = UnixStream::pair()?;
            let data = pattern(4 << 20);
            let expected = data.clone();
            let sender = geode::spawn(async move {
                let n = copy(Cursor::new(data), &mut a).await?;
                a.close().await?; // shuts down the write half: `b` reads EOF
                Ok::<_, io::Error>(n)
            });
            let mut sink = Cursor::new(Vec::new());
            let received = copy(&mut b, &mut sink).await?;
            assert_eq!(sender.await??, expected.len() as u64);
            assert_eq!(received, expected.len() as u64);
            assert!(sink.into_inner() == expected, "the bytes differ");
            Ok(())
        }))
    }

    #[test]
    fn buf_reader_lines() -> io::Result<()> {
        geode::block_on(bounded("lines", async {
            let (mut a, b) = UnixStream::pair()?;
            let writer = geode::spawn(async move {
                for i in 0..1000 {
                    AsyncWriteExt::write_all(&mut a, format!("line {i}\n").as_bytes()).await?;
                }
                AsyncWriteExt::write_all(&mut a, b"last, without a newline").await?;
                a.close().await
            });
            let lines: Vec<String> = BufReader::new(b).lines().try_collect().await?;
            writer.await??;
            assert_eq!(lines.len(), 1001);
            assert_eq!(lines[0], "line 0");
            assert_eq!(lines[999], "line 999");
            assert_eq!(lines[1000], "last, without a newline");
            Ok(())
        }))
    }

    #[test]
    fn echo_server_copies_between_halves_of_one_tcp_stream() -> io::Result<()> {
        // The classic `copy(&stream, &mut &stream)` echo: `&TcpStream` is both halves.
        geode::block_on(bounded("tcp echo", async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            geode::spawn(async move {
                let (stream, _) = listener.accept().await?;
                let echoed = copy(&stream, &mut &stream).await?;
                (&stream).close().await?;
                Ok::<_, io::Error>(echoed)
            });
            let client = TcpStream::connect(addr).await?;
            let data = pattern(2 << 20);
            let mut back = Vec::new();
            // Write and read at once: the echo can only go on while the client drains it.
            let (sent, received) = future::join(
                async {
                    AsyncWriteExt::write_all(&mut &client, &data).await?;
                    (&client).close().await
                },
                (&client).read_to_end(&mut back),
            )
            .await;
            sent?;
            assert_eq!(received?, data.len());
            assert!(back == data, "the echo differs");
            Ok(())
        }))
    }

    #[test]
    fn read_line_on_a_tcp_stream() -> io::Result<()> {
        geode::block_on(bounded("read_line", async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let client = TcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            AsyncWriteExt::write_all(&mut &client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
            let mut reader = BufReader::new(&server);
            let mut line = String::new();
            let mut head = Vec::new();
            loop {
                line.clear();
                reader.read_line(&mut line).await?;
                if line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            assert_eq!(head, ["GET / HTTP/1.1", "Host: x"]);
            let mut lines = BufReader::new(&server).lines();
            drop(client);
            assert!(lines.next().await.is_none(), "EOF once the client is gone");
            Ok(())
        }))
    }
}

/// Runtime-agnostic channels between geode tasks, and from other threads (their wakes come
/// through geode's injection queue and doorbell).
mod channels {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use geode::time::{Instant, timeout};

    /// Values a std thread sends; the receiving task parks whenever it has caught up.
    const FROM_THREAD: u32 = 1000;

    #[test]
    fn flume_between_tasks_and_threads() {
        geode::block_on(bounded("flume", async {
            // Between tasks, bounded: the producer waits for room.
            let (tx, rx) = flume::bounded::<u32>(2);
            let producer = geode::spawn(async move {
                for i in 0..100 {
                    tx.send_async(i).await.expect("the receiver is alive");
                }
            });
            let got: Vec<u32> = rx.stream().collect().await;
            assert_eq!(got, (0..100).collect::<Vec<_>>());
            producer.await.expect("producer");

            // From another thread, into a task that parks whenever it has caught up.
            let (tx, rx) = flume::unbounded::<u32>();
            let thread = std::thread::spawn(move || {
                for i in 0..FROM_THREAD {
                    tx.send(i).expect("the receiver is alive");
                }
            });
            let mut sum = 0;
            while let Ok(i) = rx.recv_async().await {
                sum += u64::from(i);
            }
            assert_eq!(sum, u64::from(FROM_THREAD) * u64::from(FROM_THREAD - 1) / 2);
            thread.join().expect("sender thread");
        }));
    }

    #[test]
    fn flume_recv_under_a_geode_timeout_on_virtual_time() {
        geode::block_on(async {
            geode::time::pause();
            let (_tx, rx) = flume::unbounded::<()>();
            let start = Instant::now();
            assert!(
                timeout(Duration::from_secs(30), rx.recv_async())
                    .await
                    .is_err()
            );
            assert_eq!(start.elapsed(), Duration::from_secs(30));
        });
    }

    #[test]
    fn async_channel_between_tasks_and_threads() {
        geode::block_on(bounded("async-channel", async {
            let (tx, rx) = async_channel::bounded::<String>(1);
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let tx = tx.clone();
                    geode::spawn(async move {
                        for i in 0..25 {
                            tx.send(format!("{w}:{i}")).await.expect("open");
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut got = Vec::new();
            while let Ok(msg) = rx.recv().await {
                got.push(msg);
            }
            assert_eq!(got.len(), 100);
            for w in workers {
                w.await.expect("worker");
            }

            let (tx, rx) = async_channel::unbounded::<u32>();
            let thread = std::thread::spawn(move || {
                for i in 0..FROM_THREAD {
                    tx.send_blocking(i).expect("open");
                }
            });
            let got: Vec<u32> = rx.collect().await;
            assert_eq!(got, (0..FROM_THREAD).collect::<Vec<_>>());
            thread.join().expect("sender thread");

            // A closed channel fails sends with the value handed back.
            let (tx, rx) = async_channel::bounded::<u8>(1);
            rx.close();
            assert_eq!(tx.send(7).await.expect_err("closed").into_inner(), 7);
        }));
    }

    #[test]
    fn futures_mpsc_and_oneshot() {
        geode::block_on(bounded("futures channels", async {
            let (mut tx, rx) = futures_channel::mpsc::channel::<u32>(1);
            let producer = geode::spawn(async move {
                for i in 0..100 {
                    tx.send(i).await.expect("open");
                }
            });
            let got: Vec<u32> = rx.collect().await;
            assert_eq!(got, (0..100).collect::<Vec<_>>());
            producer.await.expect("producer");

            let (tx, rx) = futures_channel::oneshot::channel::<&str>();
            let thread = std::thread::spawn(move || {
                tx.send("from a thread").expect("the receiver is alive");
            });
            assert_eq!(rx.await, Ok("from a thread"));
            thread.join().expect("sender thread");

            let (tx, rx) = futures_channel::oneshot::channel::<()>();
            drop(tx);
            assert!(rx.await.is_err(), "a dropped sender cancels the receiver");
        }));
    }
}

/// async-compression's futures-io adapters over geode sockets.
#[cfg(feature = "futures-io")]
mod compression {
    use super::*;
    use async_compression::futures::bufread::GzipDecoder;
    use async_compression::futures::write::GzipEncoder;
    use futures_util::io::{AsyncReadExt, AsyncWriteExt, BufReader};
    use geode::net::{TcpListener, TcpStream, UnixStream};

    #[test]
    fn gzip_through_a_tcp_connection() -> io::Result<()> {
        geode::block_on(bounded("gzip", async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let data = pattern(4 << 20);
            let expected = data.clone();
            let sender = geode::spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                let mut gzip = GzipEncoder::new(stream);
                for chunk in data.chunks(100_000) {
                    gzip.write_all(chunk).await?;
                }
                // Writes the gzip trailer, then shuts the socket's write half.
                gzip.close().await?;
                Ok::<_, io::Error>(())
            });
            let (stream, _) = listener.accept().await?;
            // The compressed bytes first: the pattern must really have been compressed.
            let mut compressed = Vec::new();
            BufReader::new(stream).read_to_end(&mut compressed).await?;
            let mut back = Vec::new();
            GzipDecoder::new(&compressed[..])
                .read_to_end(&mut back)
                .await?;
            sender.await.expect("sender")?;
            assert!(back == expected, "the decompressed data differs");
            assert!(
                compressed.len() < expected.len() / 10,
                "{}",
                compressed.len()
            );
            Ok(())
        }))
    }

    #[test]
    fn gzip_decoder_reads_a_unix_stream_and_rejects_garbage() -> io::Result<()> {
        geode::block_on(bounded("gzip errors", async {
            let (a, b) = UnixStream::pair()?;
            let writer = geode::spawn(async move {
                let mut gzip = GzipEncoder::new(a);
                gzip.write_all(b"geode").await?;
                gzip.close().await
            });
            let mut out = String::new();
            GzipDecoder::new(BufReader::new(b))
                .read_to_string(&mut out)
                .await?;
            assert_eq!(out, "geode");
            writer.await.expect("writer")?;

            let (a, b) = UnixStream::pair()?;
            a.write_all(b"this is not gzip at all").await?;
            drop(a);
            let err = GzipDecoder::new(BufReader::new(b))
                .read_to_end(&mut Vec::new())
                .await
                .expect_err("garbage is not gzip");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
            Ok(())
        }))
    }
}
