//! The node's NATS face: answers row reads (`tail`) and status requests by
//! request-reply, on the node's own subjects and on the all-nodes scatter
//! subjects. Answers larger than one NATS message go out as several chunks,
//! the last one marked, never truncated.

use actix::prelude::*;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{
    Cancel, End, NodeStatus, QueryError, QueryErrorKind, TailChunk, TailRequest, TapAck, TapChunk,
    TapFrame, TapHold,
};
use loupe_topology::metrics::Metric;
use loupe_topology::subjects::{Inbound, NodeName, Subject, qid_in};
use loupe_topology::validate::Arrival;
use std::sync::Arc;

use crate::capture::CaptureShared;
use crate::counters::Counters;
use crate::fragment::{FragmentHost, Fragments, LossHistory};
use crate::supervise::guarded;
use crate::table_store::{GetStoreStats, Scan, TableStore};
use crate::tap::{Stage, Taps};
use crate::wire::WireGuard;

/// What the node says about itself in every status.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: NodeName,
    pub kernel: String,
    pub probes_attached: u32,
    pub probes_total: u32,
    /// The store's byte bound (`--retention-mb`).
    pub retention_max_bytes: u64,
    /// The node's clock minus the host's: 0 but for simulated nodes, which
    /// may be given a skewed clock.
    pub clock_offset_ns: i64,
    /// What it kept of root's privileges (capabilities, no_new_privs).
    pub privileges: String,
    /// What the agent's config file keeps beyond the default redaction.
    pub capture: Vec<String>,
}

#[derive(Clone)]
pub struct Service {
    pub client: async_nats::Client,
    pub info: NodeInfo,
    pub store: Addr<TableStore>,
    pub counters: Arc<Counters>,
    pub capture: Arc<CaptureShared>,
    pub fragments: Arc<Fragments>,
    pub history: Arc<std::sync::Mutex<LossHistory>>,
    /// The stages' taps (`loupe tap`).
    pub taps: Arc<Taps>,
    /// What it refused of what it received.
    pub wire: Arc<WireGuard>,
    /// In a cluster: what the node knows of it (the metadata bucket).
    pub meta: Option<crate::metadata::Shared>,
}

/// How often a node says it is alive (planners expect an answer from every
/// node heard from within a few of these).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(2);

/// Rows per IPC piece; pieces are packed into chunks of at most `chunk_limit` bytes.
const ROWS_PER_PIECE: usize = 512;

impl Service {
    /// Subscribes and answers until the connection closes.
    pub async fn run(self) -> anyhow::Result<()> {
        let n = &self.info.node;
        let subs = vec![
            self.client
                .subscribe(String::from(Subject::node_tail(n)))
                .await?,
            self.client
                .subscribe(String::from(Subject::tail_all()))
                .await?,
            self.client
                .subscribe(String::from(Subject::node_status(n)))
                .await?,
            self.client
                .subscribe(String::from(Subject::status_all()))
                .await?,
        ];
        let mut deploys = self
            .client
            .subscribe(String::from(Subject::node_deploy(n)))
            .await?;
        let mut cancels = self
            .client
            .subscribe(String::from(Subject::query_cancels()))
            .await?;
        let mut tap_holds = self
            .client
            .subscribe(String::from(Subject::node_tap_hold(n)))
            .await?;
        let publisher = self.taps.take_receiver().map(|rx| {
            let this = self.clone();
            actix::spawn(async move {
                let _ = guarded("tap", this.publish_taps(rx)).await;
            })
        });
        let host = FragmentHost {
            node: n.to_string(),
            client: self.client.clone(),
            store: self.store.clone(),
            fragments: self.fragments.clone(),
            history: self.history.clone(),
            clock_offset_ns: self.info.clock_offset_ns,
            wire: self.wire.clone(),
        };
        let this = self.clone();
        let beat = actix::spawn(async move {
            // The heartbeat goes on after a panic: a node that stopped
            // beating would be reported as gone.
            while guarded("heartbeat", this.heartbeat()).await.is_err() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        let mut all = futures::stream::select_all(subs);
        tracing::info!(node = %n, "answering on NATS");
        loop {
            tokio::select! {
                Some(msg) = all.next() => {
                    let this = self.clone();
                    actix::spawn(async move {
                        let reply = msg.reply.clone();
                        let tail = msg.subject.as_str().ends_with(".tail");
                        match guarded("tail", this.answer(msg)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::warn!(error = %e, "could not answer a request"),
                            // Told to the reader at once, rather than left
                            // to its timeout.
                            Err(p) => {
                                if let (true, Some(reply)) = (tail, reply) {
                                    let e = QueryError::new(
                                        QueryErrorKind::Execution,
                                        format!("the node's tail panicked: {p}"),
                                    );
                                    let _ = this.send_error(reply, e).await;
                                }
                            }
                        }
                    });
                }
                Some(msg) = deploys.next() => {
                    let host = host.clone();
                    actix::spawn(async move {
                        if let Ok(Err(e)) = guarded("deploy", host.deploy(msg)).await {
                            tracing::warn!(error = %e, "could not take a fragment");
                        }
                    });
                }
                Some(msg) = tap_holds.next() => {
                    if let Ok(Err(e)) = guarded("tap", self.hold_tap(msg)).await {
                        tracing::warn!(error = %e, "could not answer a tap");
                    }
                }
                Some(msg) = cancels.next() => {
                    // The query id the subject names, and the message's
                    // own, must agree: one query's cancel ends only it.
                    let arrival = Arrival::query(qid_in(msg.subject.as_str()).unwrap_or(""));
                    if let Ok(c) = self.wire.receive::<Cancel>(Inbound::Cancel, Kind::Cancel, &msg.payload, &arrival) {
                        self.fragments.cancel(&c.qid);
                    }
                }
                else => break,
            }
        }
        beat.abort();
        if let Some(p) = publisher {
            p.abort();
        }
        Ok(())
    }

    /// Holds a stage's tap for two leases from now (a renewal extends it).
    async fn hold_tap(&self, msg: async_nats::Message) -> anyhow::Result<()> {
        let Some(reply) = msg.reply else {
            return Ok(());
        };
        let node = self.info.node.to_string();
        let ack = match self
            .wire
            .receive::<TapHold>(
                Inbound::TapHold,
                Kind::TapHold,
                &msg.payload,
                &Arrival::any(),
            )
            .map_err(QueryError::from)
            .and_then(|h| {
                Stage::parse(&h.stage)
                    .map(|s| (s, h.lease_ns))
                    .map_err(|e| QueryError::new(QueryErrorKind::NotFound, e))
            }) {
            Ok((stage, lease)) => {
                self.taps
                    .hold(stage, crate::clock::wall_now_ns() + 2 * lease);
                TapAck { node, error: None }
            }
            Err(e) => TapAck {
                node,
                error: Some(e),
            },
        };
        self.client
            .publish(reply, codec::encode(Kind::TapAck, &ack)?.into())
            .await?;
        Ok(())
    }

    /// Publishes the stages' frames as they come (only held stages make
    /// any), each in messages NATS takes; one it does not take is counted
    /// as dropped.
    async fn publish_taps(&self, mut rx: tokio::sync::mpsc::Receiver<crate::tap::Frame>) {
        let mut seq = [0u64; 4];
        while let Some(f) = rx.recv().await {
            let limit = loupe_topology::stream::chunk_limit(self.client.server_info().max_payload);
            let i = f.stage as usize;
            let (table, ipc) = f.ipc.unwrap_or_default();
            let pieces = if ipc.is_empty() {
                crate::tap::split_lines(f.lines, limit)
            } else {
                vec![Vec::new()]
            };
            let subject = String::from(Subject::node_tap(&self.info.node, f.stage.name()));
            for lines in pieces {
                let chunk = TapChunk {
                    stream: f.stage.name().to_string(),
                    from: self.info.node.to_string(),
                    // Numbered when sent: a piece NATS refused is counted as
                    // dropped here, not again as a gap by the reader.
                    seq: seq[i] + 1,
                    part: TapFrame {
                        lines,
                        table: table.clone(),
                        dropped: self.taps.dropped(f.stage),
                    },
                    ipc: ipc.clone(),
                    end: None,
                };
                let sent = match codec::encode(Kind::TapChunk, &chunk) {
                    Ok(b) => self.client.publish(subject.clone(), b.into()).await.is_ok(),
                    Err(_) => false,
                };
                if sent {
                    seq[i] += 1;
                } else {
                    self.taps.lost(f.stage);
                }
            }
        }
    }

    /// Samples loss counters every second (for per-window losses) and
    /// publishes the node's status every [`HEARTBEAT`].
    async fn heartbeat(&self) {
        let subject = String::from(Subject::node_heartbeat(&self.info.node));
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            let status = self.status().await;
            let oldest = self
                .store
                .send(GetStoreStats)
                .await
                .ok()
                .and_then(|s| s.oldest_time);
            let losses = loupe_topology::messages::Losses {
                kernel_dropped: status.counter(Metric::CaptureRingbufDroppedEvents),
                gap_bytes: status.counter(Metric::ReassemblyGapBytes),
                mailbox_dropped: status.counter(Metric::CaptureRecordsDroppedMailboxFull)
                    + status.counter(Metric::StoreRowsDroppedMailboxFull),
                evicted_rows: status.counter(Metric::StoreRowsEvicted),
                ..Default::default()
            };
            if let Ok(mut h) = self.history.lock() {
                h.record(crate::clock::wall_now_ns(), losses, oldest);
            }
            if n.is_multiple_of(HEARTBEAT.as_secs().max(1))
                && let Ok(bytes) = codec::encode(Kind::Heartbeat, &status)
            {
                let _ = self.client.publish(subject.clone(), bytes.into()).await;
            }
            n += 1;
        }
    }

    async fn answer(&self, msg: async_nats::Message) -> anyhow::Result<()> {
        let on = if msg.subject.as_str().ends_with(".tail") {
            Inbound::Tail
        } else {
            Inbound::Status
        };
        let got = match on {
            Inbound::Tail => self
                .wire
                .receive::<TailRequest>(on, Kind::TailRequest, &msg.payload, &Arrival::any())
                .map(Some),
            _ => self
                .wire
                .receive::<()>(on, Kind::StatusRequest, &msg.payload, &Arrival::any())
                .map(|()| None),
        };
        let Some(reply) = msg.reply.clone() else {
            return Ok(());
        };
        match got {
            Ok(Some(req)) => self.tail(reply, req).await,
            Ok(None) => {
                let status = self.status().await;
                self.client
                    .publish(reply, codec::encode(Kind::Status, &status)?.into())
                    .await?;
                Ok(())
            }
            Err(e) => self.send_error(reply, e.into()).await,
        }
    }

    async fn send_error(
        &self,
        reply: async_nats::Subject,
        error: QueryError,
    ) -> anyhow::Result<()> {
        let chunk = TailChunk::failure("", self.info.node.as_str(), (), error);
        self.client
            .publish(reply, codec::encode(Kind::TailChunk, &chunk)?.into())
            .await?;
        Ok(())
    }

    pub async fn status(&self) -> NodeStatus {
        let mut counters = self.counters.snapshot();
        if let Ok(k) = self.capture.kernel.lock() {
            counters.extend(k.values.iter().filter_map(|(s, v)| {
                Some((crate::counters::stat_metric(*s)?.name().to_string(), *v))
            }));
        }
        if let Ok(s) = self.store.send(GetStoreStats).await {
            counters.push((Metric::StoreRows.sample(&[]), s.rows as u64));
            counters.push((Metric::StoreBytes.sample(&[]), s.bytes as u64));
            counters.push((
                Metric::StoreRetentionMaxBytes.sample(&[]),
                self.info.retention_max_bytes,
            ));
        }
        counters.push((
            Metric::FragmentsActive.sample(&[]),
            self.fragments.active() as u64,
        ));
        counters.extend(self.taps.counters());
        counters.extend(self.wire.counters());
        counters.extend(crate::supervise::counters());
        if let Some(m) = &self.meta {
            counters.extend(crate::metadata::gauges(m, crate::clock::wall_now_ns()));
        }
        NodeStatus {
            node: self.info.node.to_string(),
            kernel: self.info.kernel.clone(),
            probes_attached: self.info.probes_attached,
            probes_total: self.info.probes_total,
            counters,
            wall_ns: crate::clock::wall_now_ns() + self.info.clock_offset_ns,
            privileges: self.info.privileges.clone(),
            capture: self.info.capture.clone(),
        }
    }

    async fn tail(&self, reply: async_nats::Subject, req: TailRequest) -> anyhow::Result<()> {
        let batches = match self
            .store
            .send(Scan {
                table: req.table.clone(),
                since_ns: req.since_ns,
                limit: req.limit,
            })
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                return self
                    .send_error(reply, QueryError::new(QueryErrorKind::NotFound, e))
                    .await;
            }
            Err(e) => {
                let e = format!("table store unavailable: {e}");
                return self
                    .send_error(reply, QueryError::new(QueryErrorKind::Unavailable, e))
                    .await;
            }
        };
        let batches = match project(batches, &req.columns) {
            Ok(b) => b,
            Err(e) => {
                return self
                    .send_error(reply, QueryError::new(QueryErrorKind::NotFound, e))
                    .await;
            }
        };
        let limit = loupe_topology::stream::chunk_limit(self.client.server_info().max_payload);
        let chunks = encode_chunks(&batches, limit)?;
        let status = self.status().await;
        let pieces = chunks.into_iter().map(|ipc| ((), ipc)).collect();
        for chunk in TailChunk::stream("", self.info.node.as_str(), pieces, End::Done(status)) {
            self.client
                .publish(
                    reply.clone(),
                    codec::encode(Kind::TailChunk, &chunk)?.into(),
                )
                .await?;
        }
        self.client.flush().await?;
        Ok(())
    }
}

/// The requested columns of every batch, in the requested order.
fn project(batches: Vec<RecordBatch>, columns: &[String]) -> Result<Vec<RecordBatch>, String> {
    if columns.is_empty() {
        return Ok(batches);
    }
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    let schema = first.schema();
    let idx = columns
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!("unknown column {c:?}; columns: {}", names.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    batches
        .iter()
        .map(|b| b.project(&idx).map_err(|e| e.to_string()))
        .collect()
}

/// Arrow IPC streams of at most about `limit` bytes each (a piece of
/// ROWS_PER_PIECE rows is never split further).
pub fn encode_chunks(batches: &[RecordBatch], limit: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let Some(first) = batches.first() else {
        return Ok(out);
    };
    let schema = first.schema();
    let mut writer: Option<StreamWriter<Vec<u8>>> = None;
    for b in batches {
        let mut start = 0;
        while start < b.num_rows() {
            let len = ROWS_PER_PIECE.min(b.num_rows() - start);
            let piece = b.slice(start, len);
            start += len;
            let w = match writer.as_mut() {
                Some(w) => w,
                None => writer.insert(StreamWriter::try_new(Vec::new(), &schema)?),
            };
            w.write(&piece)?;
            if w.get_ref().len() >= limit {
                let mut full = writer.take().expect("writer present");
                full.finish()?;
                out.push(full.into_inner()?);
            }
        }
    }
    if let Some(mut w) = writer {
        w.finish()?;
        out.push(w.into_inner()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("row-{i}")),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn large_answers_split_into_self_contained_chunks() {
        let batches = vec![batch(5000), batch(3)];
        let chunks = encode_chunks(&batches, 16 << 10).unwrap();
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        let mut rows = 0;
        for c in &chunks {
            assert!(
                c.len() < (16 << 10) + 64 * 1024,
                "a chunk stays near the limit"
            );
            let r =
                arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(c), None).unwrap();
            rows += r.map(|b| b.unwrap().num_rows()).sum::<usize>();
        }
        assert_eq!(rows, 5003);
        assert!(encode_chunks(&[], 1024).unwrap().is_empty());
    }

    #[test]
    fn projection_on_the_node() {
        let p = project(vec![batch(2)], &["b".into()]).unwrap();
        assert_eq!(p[0].num_columns(), 1);
        assert_eq!(p[0].schema().field(0).name(), "b");
        let err = project(vec![batch(2)], &["nope".into()]).unwrap_err();
        assert!(
            err.contains("unknown column \"nope\"") && err.contains("a, b"),
            "{err}"
        );
    }
}
