//! A large response body parsed as it arrives. A 10,000-domain `GET /domains` is a 3.7 MB body
//! that `Response::bytes` would hold whole (and its chunks, until they are copied) next to the
//! list parsed from it; here the parser, on a blocking thread, reads the chunks from a short
//! channel as the connection delivers them, so only a few chunks are alive at a time.

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::io::Read;

/// Chunks buffered between the connection and the parser.
const IN_FLIGHT: usize = 4;

/// Why a streamed body was not parsed.
#[derive(Debug)]
pub(super) enum StreamError<E> {
    /// The body could not be read to its end.
    Body(E),
    /// It was read, but is not the JSON expected.
    Json(serde_json::Error),
}

/// Parse the JSON body delivered by `chunks`.
pub(super) async fn parse<T, B, E, S>(chunks: S) -> Result<T, StreamError<E>>
where
    T: DeserializeOwned + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    S: Stream<Item = Result<B, E>>,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<B>(IN_FLIGHT);
    let parser = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader {
            rx,
            chunk: None,
            at: 0,
        };
        serde_json::from_reader::<_, T>(std::io::BufReader::new(reader))
    });
    let mut chunks = std::pin::pin!(chunks);
    let mut failed = None;
    while let Some(chunk) = chunks.next().await {
        match chunk {
            // A parser that has stopped (the JSON is bad) reads no more: neither do we.
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // The end of the body, for the parser.
    drop(tx);
    let parsed = parser.await;
    if let Some(e) = failed {
        return Err(StreamError::Body(e));
    }
    match parsed {
        Ok(result) => result.map_err(StreamError::Json),
        Err(join) => Err(StreamError::Json(serde::de::Error::custom(format!(
            "the parser stopped: {join}"
        )))),
    }
}

/// The chunks of a channel as one `Read`.
struct ChunkReader<B> {
    rx: tokio::sync::mpsc::Receiver<B>,
    chunk: Option<B>,
    at: usize,
}

impl<B: AsRef<[u8]>> Read for ChunkReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let rest = self
                .chunk
                .as_ref()
                .and_then(|c| c.as_ref().get(self.at..))
                .unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                if let (Some(to), Some(from)) = (buf.get_mut(..n), rest.get(..n)) {
                    to.copy_from_slice(from);
                }
                self.at += n;
                return Ok(n);
            }
            match self.rx.blocking_recv() {
                Some(c) => {
                    self.chunk = Some(c);
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct List {
        data: Vec<Item>,
        total_count: i64,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Item {
        id: String,
        name: String,
    }

    fn body(n: usize) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"id":"dmn_{i}","name":"d{i}.example.com \u00e9\u4e16"}}"#))
            .collect();
        format!(r#"{{"data":[{}],"total_count":{n}}}"#, items.join(","))
    }

    fn split(s: &str, size: usize) -> Vec<Result<Vec<u8>, String>> {
        s.as_bytes().chunks(size).map(|c| Ok(c.to_vec())).collect()
    }

    #[tokio::test]
    async fn parses_a_body_split_anywhere() {
        let text = body(50);
        let want: List = serde_json::from_str(&text).unwrap();
        // Splits inside tokens, escapes and multi-byte characters.
        for size in [1, 2, 3, 7, 64, 4096, text.len()] {
            let got: List = parse(futures::stream::iter(split(&text, size))).await.unwrap();
            assert_eq!(got, want, "chunks of {size}");
        }
        let empty: Result<List, _> =
            parse(futures::stream::iter(Vec::<Result<Vec<u8>, String>>::new())).await;
        assert!(matches!(empty, Err(StreamError::Json(_))));
    }

    #[tokio::test]
    async fn a_broken_body_is_a_body_error() {
        let text = body(10);
        let mut chunks = split(&text, 16);
        chunks.truncate(3);
        chunks.push(Err("connection reset".into()));
        let got: Result<List, _> = parse(futures::stream::iter(chunks)).await;
        assert!(
            matches!(got, Err(StreamError::Body(ref e)) if e == "connection reset"),
            "{got:?}"
        );
    }

    /// Bad JSON stops the reading too: an endless body does not keep the request alive.
    #[tokio::test]
    async fn bad_json_stops_the_reading() {
        let endless = futures::stream::repeat_with(|| Ok::<_, String>(b"x".to_vec()));
        let got = tokio::time::timeout(Duration::from_secs(10), parse::<List, _, _, _>(endless)).await;
        assert!(matches!(got, Ok(Err(StreamError::Json(_)))), "{got:?}");
    }

    /// A chunk that counts how many of its kind are alive.
    struct Counted(Vec<u8>, Arc<AtomicUsize>);

    impl Counted {
        fn new(bytes: &[u8], live: &Arc<AtomicUsize>, most: &Arc<AtomicUsize>) -> Self {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            Counted(bytes.to_vec(), live.clone())
        }
    }

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The point of it: the body is never held whole. Reading all of it first (as
    /// `Response::bytes` does) would hold all 2,000 chunks here.
    #[tokio::test]
    async fn only_a_few_chunks_are_alive_at_a_time() {
        let text = body(2000);
        let (live, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let size = text.len().div_ceil(2000);
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(size).collect();
        assert!(pieces.len() > 1000);
        let stream = futures::stream::iter(pieces).then(|p| {
            let (live, most) = (live.clone(), most.clone());
            async move {
                // As a connection would: chunks arrive over time.
                tokio::task::yield_now().await;
                Ok::<_, String>(Counted::new(p, &live, &most))
            }
        });
        let got: List = parse(stream).await.unwrap();
        assert_eq!(got.data.len(), 2000);
        assert_eq!(live.load(Ordering::SeqCst), 0);
        let most = most.load(Ordering::SeqCst);
        assert!(most <= IN_FLIGHT + 3, "{most} chunks alive at once");
    }
}
