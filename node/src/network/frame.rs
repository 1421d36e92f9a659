//! Reading and writing the frames of weft's stream protocols: `u32` big-endian length, then
//! that many bytes (see `weft_proto::codec`).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_proto::DecodeError;
use weft_proto::codec::{check_frame_len, frame};

/// The most a frame's buffer starts with.
const READ_CHUNK: usize = 64 * 1024;

/// How many bytes of frames a writer gathers before it writes them to the stream (a larger
/// frame goes to the stream directly). Every open session holds one: 16 KiB takes a group
/// commit's acknowledgements, or 16 messages of 1 KiB, in one write.
const WRITE_BUFFER: usize = 16 * 1024;

/// Reads one frame: an I/O error, or the body, or the reason it was refused (too large,
/// decided from the header alone, before the body is read).
pub async fn read_frame<T: AsyncRead + Unpin>(
    io: &mut T,
    what: &'static str,
    max: usize,
) -> io::Result<Result<Vec<u8>, DecodeError>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if let Err(refused) = check_frame_len(what, len, max) {
        return Ok(Err(refused));
    }
    // Grown as bytes arrive, not allocated at the size the header claims: a peer that
    // announces a large frame and sends nothing holds no memory for it.
    let mut body = Vec::with_capacity(len.min(READ_CHUNK));
    (&mut *io).take(len as u64).read_to_end(&mut body).await?;
    if body.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Ok(body))
}

/// Writes one frame and flushes.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, body: &[u8]) -> io::Result<()> {
    io.write_all(&frame(body)).await?;
    io.flush().await
}

/// What arrives on `rx`, as a stream.
pub fn received<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Writes every item from `items` as a frame, encoded by `encode`; items already waiting
/// are written together, as one write to the stream (one Yamux frame, one Noise message,
/// rather than one each), and flushed once. Ends (closing the writer) when `items` does,
/// or with why the stream broke.
pub async fn write_all<T, W: AsyncWrite + Unpin>(
    writer: W,
    mut items: impl futures::Stream<Item = T> + Unpin,
    encode: impl Fn(T) -> Result<Vec<u8>, DecodeError>,
) -> String {
    use futures::{FutureExt, StreamExt};
    let mut writer = futures::io::BufWriter::with_capacity(WRITE_BUFFER, writer);
    while let Some(first) = items.next().await {
        let mut next = Some(first);
        while let Some(item) = next {
            let body = match encode(item) {
                Ok(body) => body,
                Err(e) => return format!("cannot encode: {e}"),
            };
            if let Err(e) = writer.write_all(&frame(&body)).await {
                return format!("stream closed: {e}");
            }
            // Whatever is ready goes in the same flush.
            next = items.next().now_or_never().flatten();
        }
        if let Err(e) = writer.flush().await {
            return format!("stream closed: {e}");
        }
    }
    let _ = writer.close().await;
    "session retired".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[tokio::test]
    async fn round_trips_and_refuses_oversize_from_the_header() {
        let mut buf = Vec::new();
        write_frame(&mut Cursor::new(&mut buf), b"hello")
            .await
            .unwrap();
        let body = read_frame(&mut Cursor::new(&buf), "x", 16).await.unwrap();
        assert_eq!(body.unwrap(), b"hello");

        // Only the header is there: the refusal must not wait for a body.
        let huge = 17u32.to_be_bytes();
        let read = read_frame(&mut Cursor::new(&huge[..]), "x", 16)
            .await
            .unwrap();
        assert_eq!(read.map_err(|e| e.reason()), Err("oversize"));
    }
}
