//! The stream function's two queues on SQS: the failure queue ([`FailureQueue`], one
//! message per poison record, attribute `kind` = `poison_record`) and the insights queue
//! ([`RefreshQueue`], one message per touched connection, `kind` = `refresh`). Messages go
//! with SendMessageBatch in requests of at most 10 messages and 256 KiB.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use adpipe_domain::insights::Refresh;

use crate::poison::{self, PoisonRecord};
use crate::ports::{FailureQueue, QueueError, RefreshQueue};

/// SendMessageBatch's limits: entries per request, and bytes of all messages together
/// (bodies and attributes).
const MAX_ENTRIES: usize = 10;
const MAX_BYTES: usize = 256 * 1024;
const ATTRIBUTE: &str = "kind";
/// The `kind` attribute of the insights queue's messages.
pub const REFRESH_KIND: &str = "refresh";

/// One SQS queue and the `kind` its messages carry.
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    kind: &'static str,
}

impl SqsQueue {
    /// The stream's failure queue.
    pub fn failures(client: Client, queue_url: impl Into<String>) -> Self {
        Self::new(client, queue_url, poison::KIND)
    }

    /// The insights queue.
    pub fn refreshes(client: Client, queue_url: impl Into<String>) -> Self {
        Self::new(client, queue_url, REFRESH_KIND)
    }

    fn new(client: Client, queue_url: impl Into<String>, kind: &'static str) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            kind,
        }
    }

    fn attribute_bytes(&self) -> usize {
        ATTRIBUTE.len() + "String".len() + self.kind.len()
    }

    /// Sends every body; answers the positions of those SQS did not take.
    async fn send_all(&self, bodies: Vec<String>) -> Result<(), QueueError> {
        let mut unsent = Vec::new();
        let mut reasons = Vec::new();
        for batch in batches(bodies, self.attribute_bytes()) {
            if let Err(e) = self.send_batch(batch).await {
                unsent.extend(e.unsent);
                reasons.push(e.reason);
            }
        }
        if unsent.is_empty() {
            return Ok(());
        }
        Err(QueueError {
            unsent,
            reason: reasons.join("; "),
        })
    }

    /// Sends one request; answers the positions (ids) of the entries SQS did not take.
    async fn send_batch(&self, batch: Vec<(usize, String)>) -> Result<(), QueueError> {
        let positions: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
        let entries = batch
            .into_iter()
            .map(|(i, body)| entry(i, body, self.kind))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| QueueError {
                unsent: positions.clone(),
                reason,
            })?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError {
                unsent: positions.clone(),
                reason: DisplayErrorContext(e).to_string(),
            })?;
        let failed = out.failed();
        if failed.is_empty() {
            return Ok(());
        }
        Err(QueueError {
            // An id SQS answered that is not ours fails the whole request.
            unsent: failed
                .iter()
                .map(|f| f.id().parse().ok().filter(|i| positions.contains(i)))
                .collect::<Option<Vec<usize>>>()
                .unwrap_or(positions),
            reason: failed
                .iter()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

fn entry(
    position: usize,
    body: String,
    kind: &str,
) -> Result<SendMessageBatchRequestEntry, String> {
    let kind = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(kind)
        .build()
        .map_err(|e| e.to_string())?;
    SendMessageBatchRequestEntry::builder()
        .id(position.to_string())
        .message_body(body)
        .message_attributes(ATTRIBUTE, kind)
        .build()
        .map_err(|e| e.to_string())
}

/// The bodies, with their positions, in requests within SendMessageBatch's limits.
fn batches(bodies: Vec<String>, attribute_bytes: usize) -> Vec<Vec<(usize, String)>> {
    let mut batches: Vec<Vec<(usize, String)>> = Vec::new();
    let mut bytes = 0;
    for (i, body) in bodies.into_iter().enumerate() {
        let size = body.len() + attribute_bytes;
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_ENTRIES && bytes + size <= MAX_BYTES => {
                bytes += size;
                batch.push((i, body));
            }
            _ => {
                bytes = size;
                batches.push(vec![(i, body)]);
            }
        }
    }
    batches
}

#[async_trait]
impl FailureQueue for SqsQueue {
    async fn send(&self, records: &[PoisonRecord]) -> Result<(), QueueError> {
        self.send_all(records.iter().map(PoisonRecord::to_json).collect())
            .await
    }
}

#[async_trait]
impl RefreshQueue for SqsQueue {
    async fn request(&self, refreshes: &[Refresh]) -> Result<(), QueueError> {
        self.send_all(refreshes.iter().map(Refresh::to_json).collect())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::StreamEvent;

    const ATTRIBUTE_BYTES: usize = ATTRIBUTE.len() + "String".len() + poison::KIND.len();

    fn bodies(records: &[PoisonRecord]) -> Vec<String> {
        records.iter().map(PoisonRecord::to_json).collect()
    }

    fn poison(n: usize, keys_bytes: usize) -> Vec<PoisonRecord> {
        let pk = "k".repeat(keys_bytes);
        let records: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"eventID":"{i}","eventName":"INSERT","dynamodb":{{"Keys":{{"pk":{{"S":"{pk}"}}}},"SequenceNumber":"{i}"}}}}"#
                )
            })
            .collect();
        let event: StreamEvent =
            serde_json::from_str(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap();
        event
            .records
            .into_iter()
            .map(|r| PoisonRecord::new("field `x` is malformed".into(), r))
            .collect()
    }

    #[test]
    fn requests_hold_at_most_ten_messages_in_order() {
        let sizes: Vec<Vec<usize>> = batches(bodies(&poison(23, 10)), ATTRIBUTE_BYTES)
            .iter()
            .map(|b| b.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(sizes.len(), 3);
        assert_eq!(sizes[0], (0..10).collect::<Vec<_>>());
        assert_eq!(sizes[2], vec![20, 21, 22]);
    }

    #[test]
    fn requests_hold_at_most_256_kib() {
        for batch in batches(bodies(&poison(10, 60_000)), ATTRIBUTE_BYTES) {
            let bytes: usize = batch
                .iter()
                .map(|(_, body)| body.len() + ATTRIBUTE_BYTES)
                .sum();
            assert!(bytes <= MAX_BYTES, "{bytes}");
            assert!(batch.len() <= 4);
        }
    }
}
