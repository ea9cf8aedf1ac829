//! Reading a recording: the header, then one step at a time. A recording
//! cut anywhere (a crash, a full disk) reads up to its last complete
//! record; a changed byte is a [`ReadError`], never a panic and never a
//! silently different input.

use thiserror::Error;

use super::wire::{
    FLAG_REDACTED, FLAG_SEGMENT, FLAG_TOKEN, KIND_HEADER, KIND_SNAPSHOT, KIND_STEP, get_input,
};
use crate::config::Config;
use crate::encoding::codec::{Cursor, crc32, length_check};
use crate::encoding::config::get_config;
use crate::runner::Input;
use crate::{Snapshot, Timestamp};

/// The first eight bytes of every recording.
pub const MAGIC: [u8; 8] = *b"RIVETREC";

/// The format version this build writes and reads (two bytes, little
/// endian, after [`MAGIC`]). Version 2 added rotated segments (a snapshot
/// record after the header) and structural digests of rare outputs.
pub const FORMAT_VERSION: u16 = 2;

/// Why a recording cannot be read (further).
///
/// # Examples
///
/// ```
/// use runner_core::recording::{ReadError, RecordingReader};
///
/// let err = RecordingReader::new(b"GIF89a..").unwrap_err();
/// assert_eq!(err, ReadError::NotARecording);
/// assert_eq!(err.to_string(), "not a runner recording (wrong magic bytes)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file does not start with [`MAGIC`].
    #[error("not a runner recording (wrong magic bytes)")]
    NotARecording,
    /// A format version this build does not read.
    #[error(
        "recording format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u16),
    /// The file ends before its header record (and, in a rotated segment,
    /// its snapshot record) is complete: nothing to replay.
    #[error("the recording ends before its header is complete")]
    NoHeader,
    /// A record's length check or checksum does not match: the file was
    /// changed after it was written.
    #[error("corrupt record at byte {offset}: {what}")]
    Corrupt {
        /// Where the record starts in the file.
        offset: usize,
        /// What did not match.
        what: &'static str,
    },
    /// A record passed its checksum but does not decode: written by a
    /// different build, or a bug.
    #[error("malformed record at byte {offset}: {what}")]
    Malformed {
        /// Where the record starts in the file.
        offset: usize,
        /// What did not decode.
        what: &'static str,
    },
}

/// The header of a recording: what a fresh core needs to replay it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordingHeader {
    /// The runner's configuration (the token, never recorded, is a
    /// placeholder when there was one).
    pub config: Config,
    /// The `now` the runner was created with.
    pub created: Timestamp,
    /// Whether bodies, KV values and header values were redacted.
    pub redacted: bool,
    /// The build that wrote it (`runner-core <version>`).
    pub producer: String,
    /// Whether the file is a rotated segment: it replays from the snapshot
    /// after its header ([`RecordingReader::snapshot`]), and `created` is
    /// when that snapshot was taken.
    pub segment: bool,
}

/// One recorded input with the digest of its outputs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedStep {
    /// Where its record starts in the file.
    pub offset: usize,
    /// The `now` it was given.
    pub now: Timestamp,
    /// The input.
    pub input: Input<'static>,
    /// The digest of what it produced.
    pub digest: u64,
}

/// Reads a recording held in memory.
///
/// # Examples
///
/// ```
/// use runner_core::recording::{RecordOptions, RecordingReader};
/// use runner_core::{Config, Input, Runner, Timestamp};
///
/// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
/// runner.start_recording(RecordOptions::new())?;
/// runner.start(Timestamp::from_millis(5));
/// let mut file = Vec::new();
/// runner.take_recording(&mut file);
///
/// let mut reader = RecordingReader::new(&file)?;
/// assert_eq!(reader.header().config.runner_name, "r");
/// let step = reader.next_step()?.expect("one step");
/// assert_eq!((step.now, step.input), (Timestamp::from_millis(5), Input::Start));
/// assert_eq!(reader.next_step()?, None);
/// assert!(!reader.was_cut());
/// // Cut in the middle of the step: it reads up to the cut.
/// let mut cut = RecordingReader::new(&file[..file.len() - 3])?;
/// assert_eq!(cut.next_step()?, None);
/// assert!(cut.was_cut());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecordingReader<'a> {
    data: &'a [u8],
    pos: usize,
    header: RecordingHeader,
    snapshot: Option<Snapshot>,
    last_now: Timestamp,
    cut: bool,
}

impl<'a> RecordingReader<'a> {
    /// Checks the magic and version and reads the header.
    ///
    /// # Errors
    ///
    /// [`ReadError::NotARecording`], [`ReadError::UnsupportedVersion`],
    /// [`ReadError::NoHeader`] when cut before the header's end, or a
    /// corrupt or malformed header.
    pub fn new(data: &'a [u8]) -> Result<Self, ReadError> {
        let start = MAGIC.len() + 2;
        let Some((magic, rest)) = data.split_at_checked(MAGIC.len()) else {
            return Err(if MAGIC.starts_with(data) {
                ReadError::NoHeader
            } else {
                ReadError::NotARecording
            });
        };
        if magic != MAGIC {
            return Err(ReadError::NotARecording);
        }
        let version = match rest {
            [a, b, ..] => u16::from_le_bytes([*a, *b]),
            _ => return Err(ReadError::NoHeader),
        };
        if version != FORMAT_VERSION {
            return Err(ReadError::UnsupportedVersion(version));
        }
        let mut reader = RecordingReader {
            data,
            pos: start,
            header: RecordingHeader {
                config: Config::new("http://placeholder", "-", "-"),
                created: Timestamp::ZERO,
                redacted: false,
                producer: String::new(),
                segment: false,
            },
            snapshot: None,
            last_now: Timestamp::ZERO,
            cut: false,
        };
        let (offset, body) = reader.next_record()?.ok_or(ReadError::NoHeader)?;
        reader.header = read_header(body).map_err(|what| ReadError::Malformed { offset, what })?;
        reader.last_now = reader.header.created;
        if reader.header.segment {
            let (offset, body) = reader.next_record()?.ok_or(ReadError::NoHeader)?;
            match body.split_first() {
                Some((&KIND_SNAPSHOT, snapshot)) => {
                    reader.snapshot = Some(Snapshot::from_bytes(snapshot.to_vec()));
                }
                _ => {
                    let what = "a segment's second record is not its snapshot";
                    return Err(ReadError::Malformed { offset, what });
                }
            }
        }
        Ok(reader)
    }

    /// A rotated segment's snapshot: the state its steps start from. It is
    /// checked when restored ([`crate::Runner::from_snapshot`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_core::recording::{RecordOptions, RecordingReader};
    /// use runner_core::{Config, Runner, Timestamp};
    ///
    /// let mut runner = Runner::new(Config::new("http://h:1", "r", "k"), Timestamp::ZERO)?;
    /// runner.start_recording(RecordOptions::new())?;
    /// let mut first = Vec::new();
    /// runner.take_recording(&mut first);
    /// assert!(RecordingReader::new(&first)?.snapshot().is_none()); // the run's start
    /// runner.start(Timestamp::ZERO);
    /// runner.rotate_recording()?;
    /// let mut second = Vec::new();
    /// runner.take_recording(&mut second);
    /// let reader = RecordingReader::new(&second)?;
    /// assert!(reader.header().segment);
    /// let restored = Runner::from_snapshot(reader.snapshot().unwrap())?;
    /// assert_eq!(restored.poll_timeout(), runner.poll_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// The header.
    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// Whether reading stopped at an incomplete record (the file was cut).
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    /// The next step, or `None` at the end (or at a cut).
    ///
    /// # Errors
    ///
    /// A corrupt or malformed record.
    pub fn next_step(&mut self) -> Result<Option<RecordedStep>, ReadError> {
        let Some((offset, body)) = self.next_record()? else {
            return Ok(None);
        };
        let malformed = |what| ReadError::Malformed { offset, what };
        let (kind, rest) = body.split_first().ok_or(malformed("empty record"))?;
        if *kind != KIND_STEP {
            return Err(malformed("unknown record kind"));
        }
        let (fields, digest) = rest
            .split_at_checked(rest.len().wrapping_sub(8))
            .filter(|_| rest.len() >= 8)
            .ok_or(malformed("step record too short"))?;
        let mut cursor = Cursor::new(fields);
        let delta = cursor.zigzag().map_err(malformed)?;
        let input = get_input(&mut cursor).map_err(malformed)?;
        if !cursor.is_empty() {
            return Err(malformed("bytes left after the input"));
        }
        let now = shift(self.last_now, delta);
        self.last_now = now;
        let mut le = [0u8; 8];
        le.copy_from_slice(digest);
        Ok(Some(RecordedStep {
            offset,
            now,
            input,
            digest: u64::from_le_bytes(le),
        }))
    }

    /// The next record's offset and body, checked.
    fn next_record(&mut self) -> Result<Option<(usize, &'a [u8])>, ReadError> {
        let offset = self.pos;
        let rest = &self.data[offset..];
        if rest.is_empty() {
            return Ok(None);
        }
        let [l0, l1, l2, l3, check, ..] = *rest else {
            self.cut = true;
            return Ok(None);
        };
        let len_bytes = [l0, l1, l2, l3];
        if length_check(len_bytes) != check {
            return Err(ReadError::Corrupt {
                offset,
                what: "length check byte does not match",
            });
        }
        let len = u32::from_le_bytes(len_bytes) as usize;
        let Some(framed) = rest.get(5..).and_then(|r| r.get(..len.checked_add(4)?)) else {
            self.cut = true;
            return Ok(None);
        };
        let (body, crc) = framed.split_at(len);
        if crc32(body).to_le_bytes() != crc {
            return Err(ReadError::Corrupt {
                offset,
                what: "checksum does not match",
            });
        }
        self.pos = offset + 5 + len + 4;
        Ok(Some((offset, body)))
    }
}

impl Iterator for RecordingReader<'_> {
    type Item = Result<RecordedStep, ReadError>;

    /// The steps; a read error ends the iteration after it is returned.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_step() {
            Ok(step) => step.map(Ok),
            Err(e) => {
                self.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

fn shift(from: Timestamp, delta_nanos: i64) -> Timestamp {
    let base = from.as_duration();
    let magnitude = std::time::Duration::from_nanos(delta_nanos.unsigned_abs());
    let moved = if delta_nanos >= 0 {
        base.saturating_add(magnitude)
    } else {
        base.saturating_sub(magnitude)
    };
    Timestamp::from(moved)
}

fn read_header(body: &[u8]) -> Result<RecordingHeader, &'static str> {
    let (kind, fields) = body.split_first().ok_or("empty record")?;
    if *kind != KIND_HEADER {
        return Err("first record is not a header");
    }
    let mut c = Cursor::new(fields);
    let created = Timestamp::from(c.duration()?);
    let flags = c.u8()?;
    let config = get_config(&mut c, flags & FLAG_TOKEN != 0)?;
    let producer = c.string()?;
    Ok(RecordingHeader {
        config,
        created,
        redacted: flags & FLAG_REDACTED != 0,
        producer,
        segment: flags & FLAG_SEGMENT != 0,
    })
}
