//! The run's control channel: one TCP connection from every rank to rank 0, beside the tensor
//! traffic of the collective engine. It does what the engine does not: before the first step it
//! checks that every rank runs the same program and settings (a fingerprint), and during the run
//! it notices a rank that is gone. A process that ends, even by SIGKILL, has its connection closed
//! by the operating system; rank 0 then tells every other rank which one was lost, and each stops
//! with that message instead of waiting forever in an all-reduce. A rank that fails with an error
//! sends it first, so the others name the cause. At the end every rank says it is done and waits
//! for the others, so no rank mistakes a finished rank 0 for a lost one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::world::{MasterAddr, World};
use crate::error::{Error, Result};

/// Exit status of a rank stopped because another rank was lost or failed.
pub const EXIT_PEER_LOST: i32 = 3;

/// How long ranks wait for each other to join (seconds; `SSL3D_JOIN_TIMEOUT_S` overrides).
const JOIN_TIMEOUT_S: u64 = 300;

pub(crate) fn join_timeout() -> Duration {
    let s = std::env::var("SSL3D_JOIN_TIMEOUT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(JOIN_TIMEOUT_S);
    Duration::from_secs(s)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    Join {
        rank: usize,
        size: usize,
        fingerprint: String,
    },
    Ready,
    Refused {
        why: String,
    },
    Failed {
        rank: usize,
        why: String,
    },
    Lost {
        rank: usize,
        why: String,
    },
    Done {
        rank: usize,
    },
    Finished,
    /// After `Finished`: this rank has left the collective engine and is ending.
    Left,
}

fn send(stream: &mut TcpStream, m: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_string(m).expect("messages serialise");
    line.push('\n');
    stream.write_all(line.as_bytes())
}

/// The next message, `None` when the other side closed the connection (or broke it).
fn recv(reader: &mut BufReader<TcpStream>) -> Option<Message> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => serde_json::from_str(&line).ok(),
    }
}

/// Rank 0's side: binds the control port (refusing one in use) and serves the run on a thread.
pub(crate) fn serve(master: &MasterAddr, size: usize) -> Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", master.port)).map_err(|e| {
        Error::InvalidArgument(format!(
            "rank 0 cannot listen on port {} (--master-addr {master}): {e}; another run may be \
             using it: choose another port",
            master.port
        ))
    })?;
    std::thread::Builder::new()
        .name("ssl3d-control".into())
        .spawn(move || run_server(listener, size))
        .map_err(|e| Error::Distributed(format!("cannot start the control thread: {e}")))?;
    Ok(())
}

enum Event {
    Done,
    Left,
    Failed(String),
    Gone,
}

/// How long rank 0 waits, at the end, for the others to leave the engine before it ends itself.
const LEAVE_WITHIN: Duration = Duration::from_secs(10);

fn run_server(listener: TcpListener, size: usize) {
    let Some(mut peers) = accept_all(&listener, size) else {
        return;
    };
    let (tx, rx) = channel();
    for (&rank, (stream, _)) in &peers {
        let Ok(read) = stream.try_clone() else {
            continue;
        };
        let tx: Sender<(usize, Event)> = tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(read);
            loop {
                let event = match recv(&mut reader) {
                    Some(Message::Done { .. }) => Event::Done,
                    Some(Message::Left) => Event::Left,
                    Some(Message::Failed { why, .. }) => Event::Failed(why),
                    Some(_) => continue,
                    None => Event::Gone,
                };
                let last = !matches!(event, Event::Done);
                if tx.send((rank, event)).is_err() || last {
                    return;
                }
            }
        });
    }
    drop(tx);
    // Once every rank is done, the others are told first and leave the engine; rank 0, which
    // hosts the engine's orchestrator, is told last, so no connection to it is cut mid-way.
    let (mut done, mut left) = (BTreeSet::new(), BTreeSet::new());
    let mut leaving: Option<Instant> = None;
    loop {
        let next = match leaving {
            Some(deadline) => rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            None => rx.recv().ok(),
        };
        let Some((rank, event)) = next else {
            break;
        };
        let why = match event {
            Event::Done => {
                done.insert(rank);
                if done.len() == size {
                    leaving = Some(Instant::now() + LEAVE_WITHIN);
                    for (&other, (stream, _)) in peers.iter_mut() {
                        if other != 0 {
                            let _ = send(stream, &Message::Finished);
                        }
                    }
                }
                None
            }
            // A rank that is done needs no one: its leaving (or end) costs the run nothing.
            Event::Left | Event::Gone if done.contains(&rank) => {
                left.insert(rank);
                None
            }
            Event::Left => None,
            Event::Failed(why) => Some(format!("failed: {why}")),
            Event::Gone => Some(
                "was lost: its process ended or its connection broke without a word (killed, \
                 out of memory, or a network failure)"
                    .to_string(),
            ),
        };
        if let Some(why) = why {
            for (&other, (stream, _)) in peers.iter_mut().rev() {
                if other != rank {
                    let _ = send(
                        stream,
                        &Message::Lost {
                            rank,
                            why: why.clone(),
                        },
                    );
                }
            }
        }
        if leaving.is_some() && (1..size).all(|r| left.contains(&r)) {
            break;
        }
    }
    if leaving.is_some()
        && let Some((stream, _)) = peers.get_mut(&0)
    {
        let _ = send(stream, &Message::Finished);
    }
}

/// Waits for every rank's `Join`, then answers all with `Ready`, or with `Refused` when a rank
/// is missing after the join timeout, a rank joined twice or the fingerprints differ.
fn accept_all(listener: &TcpListener, size: usize) -> Option<BTreeMap<usize, (TcpStream, String)>> {
    let deadline = Instant::now() + join_timeout();
    let mut peers: BTreeMap<usize, (TcpStream, String)> = BTreeMap::new();
    // Connections refused on their own (a duplicate rank, another size): answered with the rest.
    let mut extra: Vec<TcpStream> = Vec::new();
    let mut refusal: Option<String> = None;
    let _ = listener.set_nonblocking(true);
    while peers.len() < size && refusal.is_none() {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let Ok(read) = stream.try_clone() else {
                    continue;
                };
                match recv(&mut BufReader::new(read)) {
                    Some(Message::Join {
                        rank,
                        size: theirs,
                        fingerprint,
                    }) => {
                        let _ = stream.set_read_timeout(None);
                        if theirs != size || rank >= size {
                            refusal = Some(format!(
                                "rank {rank} was started for {theirs} processes, rank 0 for {size}"
                            ));
                            extra.push(stream);
                            continue;
                        }
                        match peers.entry(rank) {
                            std::collections::btree_map::Entry::Occupied(_) => {
                                refusal = Some(format!("two processes joined as rank {rank}"));
                                extra.push(stream);
                            }
                            std::collections::btree_map::Entry::Vacant(v) => {
                                v.insert((stream, fingerprint));
                            }
                        }
                    }
                    _ => continue,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let missing: Vec<String> = (0..size)
                        .filter(|r| !peers.contains_key(r))
                        .map(|r| r.to_string())
                        .collect();
                    refusal = Some(format!(
                        "rank(s) {} did not join within {} s (set SSL3D_JOIN_TIMEOUT_S to wait \
                         longer)",
                        missing.join(", "),
                        join_timeout().as_secs()
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    if refusal.is_none()
        && let Some((rank, _)) = peers
            .iter()
            .find(|(_, (_, fp))| Some(fp) != peers.get(&0).map(|(_, fp)| fp))
    {
        refusal = Some(format!(
            "rank {rank} runs another program or other settings than rank 0 (their fingerprints \
             differ): start every rank with the same binary, configuration, datalist and options"
        ));
    }
    let answer = match &refusal {
        Some(why) => Message::Refused { why: why.clone() },
        None => Message::Ready,
    };
    let ranks = peers.values_mut().rev().map(|(s, _)| s);
    for stream in extra.iter_mut().chain(ranks) {
        let _ = send(stream, &answer);
    }
    refusal.is_none().then_some(peers)
}

/// A rank's side of the control channel.
pub(crate) struct ControlClient {
    writer: Mutex<TcpStream>,
    finished: Mutex<Receiver<()>>,
    rank: usize,
    /// This machine's address as rank 0 sees it (where the other ranks reach this one).
    pub local_ip: IpAddr,
}

impl ControlClient {
    /// Connects to rank 0 (retrying until the join timeout: ranks start in any order), joins with
    /// this process's `fingerprint`, and waits until every rank has joined.
    pub fn join(world: &World, fingerprint: &str) -> Result<ControlClient> {
        let addr = world.master.control();
        let deadline = Instant::now() + join_timeout();
        let mut stream = loop {
            match TcpStream::connect(&addr) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(Error::InvalidArgument(format!(
                        "rank {} cannot reach rank 0 at {addr} (--master-addr): {e}, for {} s; \
                         is rank 0 started, and is the address right?",
                        world.rank,
                        join_timeout().as_secs()
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .map_err(|e| Error::Distributed(format!("control connection: {e}")))?;
        let io =
            |e: std::io::Error| Error::Distributed(format!("control connection to {addr}: {e}"));
        send(
            &mut stream,
            &Message::Join {
                rank: world.rank,
                size: world.size,
                fingerprint: fingerprint.to_string(),
            },
        )
        .map_err(io)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
        // Rank 0 answers once every rank has joined, or refuses after the join timeout.
        let answer_within = join_timeout() + Duration::from_secs(10);
        stream.set_read_timeout(Some(answer_within)).map_err(io)?;
        let answer = recv(&mut reader);
        stream.set_read_timeout(None).map_err(io)?;
        match answer {
            Some(Message::Ready) => {}
            Some(Message::Refused { why }) => {
                return Err(Error::InvalidArgument(format!(
                    "the run cannot start: {why}"
                )));
            }
            _ => {
                return Err(Error::Distributed(format!(
                    "rank 0 at {addr} did not let the run start: it closed the connection or \
                     gave no answer within {} s (is something else listening there?)",
                    answer_within.as_secs()
                )));
            }
        }
        let (tx, rx) = channel();
        let (me, master) = (world.rank, addr.clone());
        std::thread::Builder::new()
            .name("ssl3d-control-watch".into())
            .spawn(move || watch(reader, tx, me, master))
            .map_err(|e| Error::Distributed(format!("cannot start the control thread: {e}")))?;
        Ok(ControlClient {
            writer: Mutex::new(stream),
            finished: Mutex::new(rx),
            rank: world.rank,
            local_ip,
        })
    }

    /// Tells the others this rank failed with `why` (they stop naming it).
    pub fn fail(&self, why: &str) {
        let mut w = self.writer.lock().expect("control writer");
        let _ = send(
            &mut w,
            &Message::Failed {
                rank: self.rank,
                why: why.to_string(),
            },
        );
    }

    /// Says this rank is done, waits until every rank is, then calls `leave` (closing its
    /// engine connections: no transfer is pending anywhere) and says so. Rank 0 hears last.
    pub fn finish(&self, leave: impl FnOnce()) {
        {
            let mut w = self.writer.lock().expect("control writer");
            let _ = send(&mut w, &Message::Done { rank: self.rank });
        }
        let _ = self.finished.lock().expect("control receiver").recv();
        leave();
        let mut w = self.writer.lock().expect("control writer");
        let _ = send(&mut w, &Message::Left);
    }
}

/// Watches the control connection: another rank lost or failed, or rank 0 gone, stops this
/// process with the reason; the run's end is passed on to [`ControlClient::finish`].
fn watch(mut reader: BufReader<TcpStream>, finished: Sender<()>, me: usize, master: String) {
    let why = match recv(&mut reader) {
        Some(Message::Finished) => {
            let _ = finished.send(());
            return;
        }
        Some(Message::Lost { rank, why }) => format!("rank {rank} {why}"),
        _ => format!(
            "rank 0 was lost: its control connection ({master}) closed (killed, out of memory, \
             or a network failure)"
        ),
    };
    eprintln!("error: rank {me} stops: {why}");
    std::process::exit(EXIT_PEER_LOST);
}
