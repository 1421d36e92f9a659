//! Reading and writing the frames of weft's stream protocols: `u32` big-endian length, then
//! that many bytes (see `weft_proto::codec`).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weft_proto::DecodeError;
use weft_proto::codec::{check_frame_len, frame};

/// The most a frame's buffer starts with.
const READ_CHUNK: usize = 64 * 1024;

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
