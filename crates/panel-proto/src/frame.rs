//! The typed frame: what one panel frame says, with raw text kept wherever a receiver has
//! to echo it (seq, R, L, account) and numbers parsed where it has to act on them.

use compact_str::CompactString;

use crate::codes;
use crate::timestamp::Timestamp;

/// The quoted ID token of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// `"NULL"`: link test / heartbeat.
    Null,
    /// `"ACK"`: positive acknowledgement.
    Ack,
    /// `"NAK"`: timestamp rejected.
    Nak,
    /// `"DUH"`: valid frame, content not supported.
    Duh,
    /// `"RSP"`: DC-09 Annex I remote command / response.
    Rsp,
    /// `"ADM-CID"`: Contact ID payload.
    AdmCid,
    /// `"SIA-DCS"`: SIA DC-03/DC-04 payload.
    SiaDcs,
    /// `"HENG-BO"`: Hengbo private, Contact ID shaped payload.
    HengBo,
    /// Any other token (kept so the receiver can answer DUH and log it).
    Other(CompactString),
}

impl Id {
    /// Strict match of a token (without quotes and without `*`).
    pub fn from_token(token: &[u8]) -> Id {
        match token {
            b"NULL" => Id::Null,
            b"ACK" => Id::Ack,
            b"NAK" => Id::Nak,
            b"DUH" => Id::Duh,
            b"RSP" => Id::Rsp,
            b"ADM-CID" => Id::AdmCid,
            b"SIA-DCS" => Id::SiaDcs,
            b"HENG-BO" => Id::HengBo,
            other => Id::Other(CompactString::from_utf8_lossy(other)),
        }
    }

    /// The token text without quotes and without `*`.
    pub fn as_str(&self) -> &str {
        match self {
            Id::Null => "NULL",
            Id::Ack => "ACK",
            Id::Nak => "NAK",
            Id::Duh => "DUH",
            Id::Rsp => "RSP",
            Id::AdmCid => "ADM-CID",
            Id::SiaDcs => "SIA-DCS",
            Id::HengBo => "HENG-BO",
            Id::Other(s) => s,
        }
    }

    /// Whether frames with this token carry an event (Contact ID or SIA).
    pub fn carries_event(&self) -> bool {
        matches!(self, Id::AdmCid | Id::SiaDcs | Id::HengBo)
    }
}

/// Non-conforming behaviours of real panels (protocol.md §4.4, §5).
///
/// As decoder input: which leniencies may be tried. On a decoded [`Frame`]: which ones the
/// frame needed, so a receiver can check them against the account's own flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Quirks {
    /// CRC computed over the span plus the CR (Eldes), and the length may count the CR.
    pub crc_with_cr: bool,
    /// Length field written in decimal instead of hex.
    pub decimal_length: bool,
    /// Two raw bytes of big-endian CRC instead of 4 hex characters.
    pub binary_crc: bool,
    /// No `L` token in the header.
    pub missing_l: bool,
    /// No `#acct` token in the header (the account is then taken from the data block).
    pub missing_account: bool,
    /// Timestamps are the panel's local time, not GMT (interpretation only; never set by
    /// the decoder).
    pub local_time: bool,
}

impl Quirks {
    /// Every leniency enabled (what `alarmhub decode` uses).
    pub const ALL: Quirks = Quirks {
        crc_with_cr: true,
        decimal_length: true,
        binary_crc: true,
        missing_l: true,
        missing_account: true,
        local_time: false,
    };

    /// Whether every quirk set in `used` is also set in `self`.
    pub fn allows(&self, used: &Quirks) -> bool {
        (!used.crc_with_cr || self.crc_with_cr)
            && (!used.decimal_length || self.decimal_length)
            && (!used.binary_crc || self.binary_crc)
            && (!used.missing_l || self.missing_l)
            && (!used.missing_account || self.missing_account)
    }

    /// Whether no quirk is set.
    pub fn is_empty(&self) -> bool {
        *self == Quirks::default()
    }

    /// Names of the quirks set, for logs and JSON output.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.crc_with_cr, "crc_with_cr"),
            (self.decimal_length, "decimal_length"),
            (self.binary_crc, "binary_crc"),
            (self.missing_l, "missing_l"),
            (self.missing_account, "missing_account"),
            (self.local_time, "local_time"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }
}

/// A Contact ID block: `[#ACCT|QEEE GG ZZZ]` (DC-09) or `[#IIIIII|EEEE GG ZZZ]` (Hengbo).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContactId {
    /// Account inside the data block (without `#`); `None` when the block has no `#acct|`.
    pub account: Option<CompactString>,
    /// Qualifier digit: 1 new/opening, 3 restore/closing, 6 status (HB also uses 2).
    pub qualifier: u8,
    /// Three-digit event code, e.g. 130.
    pub code: u16,
    /// Group / partition / HB section (`00` = whole host).
    pub group: u8,
    /// Zone or user number (`000` = the panel itself).
    pub zone: u16,
    /// The 11 characters `QEEE GG ZZZ` exactly as received.
    pub raw: CompactString,
}

impl ContactId {
    /// The 4-digit code HB style: qualifier × 1000 + code (1130, 3400, 1799 …).
    pub fn event_code(&self) -> u16 {
        u16::from(self.qualifier) * 1000 + self.code
    }

    /// Hengbo Ademco ID: the data account read as hex, when it is 1..=999999 (a phone-number
    /// account such as `#861234567890` is "no ID").
    pub fn ademco_id(&self) -> Option<u32> {
        let acct = self.account.as_deref()?;
        if acct.is_empty() || acct.len() > 8 {
            return None;
        }
        let v = u32::from_str_radix(acct, 16).ok()?;
        (1..=999_999).contains(&v).then_some(v)
    }

    /// Table facts about the event code in the table of the sender's `dialect` (HB codes
    /// only for Hengbo hosts), when it is known.
    pub fn info(&self, dialect: crate::rules::Dialect) -> Option<codes::EventInfo> {
        codes::event_info_for(self.event_code(), dialect)
    }
}

/// A SIA DC-03/DC-04 block, e.g. `[#12345A|Nri1/CL501]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiaData {
    /// Account inside the data block (without `#`), when present.
    pub account: Option<CompactString>,
    /// Everything after the `|` (or the whole block when there is none), as received.
    pub body: CompactString,
    /// `true` when the body starts with `N` (new event).
    pub new_event: bool,
    /// Two-letter event code (`FA`, `CL` …), when one was found.
    pub code: Option<CompactString>,
    /// Number after the code (zone or user), as text.
    pub number: Option<CompactString>,
    /// `ri` modifier: area / partition.
    pub area: Option<CompactString>,
    /// `id` modifier: user.
    pub user: Option<CompactString>,
    /// `ti` modifier: time.
    pub time: Option<CompactString>,
    /// Text between `^` and `^`.
    pub text: Option<CompactString>,
}

/// The data block of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Data {
    /// `[]`.
    Empty,
    /// Contact ID (ADM-CID, HENG-BO).
    ContactId(ContactId),
    /// SIA-DCS.
    Sia(SiaData),
    /// Encrypted frame not decrypted yet: the hex text after `[`.
    Encrypted(String),
    /// Any other content, as received.
    Other(CompactString),
}

/// One extended-data block after the data block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Xdata {
    /// Hengbo block with a 2-byte big-endian binary length: `[` len len payload `]`.
    HbBinary(Vec<u8>),
    /// Hengbo block with a 4-hex-digit length: `[0003ABC]`.
    HbHex4(Vec<u8>),
    /// DC-09 identifier block `[Xvalue]`, e.g. `[RLivingRoom]`.
    Dc09 {
        /// Identifier letter.
        id: u8,
        /// Value text (lossy UTF-8 of Windows-1252 bytes).
        value: CompactString,
    },
}

impl Xdata {
    /// The payload bytes of a Hengbo block (for a DC-09 block: its value).
    pub fn payload(&self) -> &[u8] {
        match self {
            Xdata::HbBinary(p) | Xdata::HbHex4(p) => p,
            Xdata::Dc09 { value, .. } => value.as_bytes(),
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// ID token.
    pub id: Id,
    /// `*` inside the ID quotes: the data block was (or still is) encrypted.
    pub encrypted: bool,
    /// Sequence number, the raw 4 characters (echo them verbatim).
    pub seq: CompactString,
    /// Receiver number after `R` (without the `R`); `None` when absent.
    pub receiver: Option<CompactString>,
    /// Line prefix after `L` (without the `L`; may be empty); `None` when absent.
    pub line: Option<CompactString>,
    /// Header account after `#` (without `#`); `None` when absent.
    pub account: Option<CompactString>,
    /// `true` when the account token was `A…` (the spec NAK form `A0`) instead of `#…`.
    pub account_is_nak_form: bool,
    /// Data block.
    pub data: Data,
    /// Extended-data blocks in order.
    pub xdata: Vec<Xdata>,
    /// Timestamp, when present and well-shaped.
    pub timestamp: Option<Timestamp>,
    /// Quirks this frame needed to decode.
    pub quirks: Quirks,
}

impl Frame {
    /// Sequence number as a number (non-digit sequences, seen in the field as `FFFF`, give
    /// `None`).
    pub fn seq_number(&self) -> Option<u16> {
        self.seq.parse().ok()
    }

    /// The account a receiver keys this panel on: the header account, else the data
    /// block's account.
    pub fn panel_account(&self) -> Option<&str> {
        if let Some(a) = self.account.as_deref() {
            if !a.is_empty() && !self.account_is_nak_form {
                return Some(a);
            }
        }
        match &self.data {
            Data::ContactId(c) => c.account.as_deref(),
            Data::Sia(s) => s.account.as_deref(),
            _ => None,
        }
    }

    /// The Contact ID block, if the frame has one.
    pub fn contact_id(&self) -> Option<&ContactId> {
        match &self.data {
            Data::ContactId(c) => Some(c),
            _ => None,
        }
    }

    /// The SIA block, if the frame has one.
    pub fn sia(&self) -> Option<&SiaData> {
        match &self.data {
            Data::Sia(s) => Some(s),
            _ => None,
        }
    }
}
