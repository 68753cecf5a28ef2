//! Response bodies: a whole body, or an event stream fed by a channel (SubscribeToShard),
//! counting the bytes they send.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::metrics::ServerMetrics;

/// A response body.
pub enum ResponseBody {
    /// All of it at once.
    Full(Option<Bytes>),
    /// Event stream messages as they come; the body ends when the sender is dropped.
    Events {
        /// The framed messages.
        rx: mpsc::Receiver<Bytes>,
        /// Where sent bytes are counted.
        metrics: Arc<ServerMetrics>,
    },
}

impl ResponseBody {
    /// A whole body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody::Full(Some(bytes.into()))
    }

    /// No body.
    pub fn empty() -> Self {
        ResponseBody::Full(None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Events { rx, metrics } => match rx.poll_recv(cx) {
                Poll::Ready(Some(b)) => {
                    metrics
                        .bytes_out
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Events { .. } => SizeHint::default(),
        }
    }
}
