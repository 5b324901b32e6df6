//! A lane: the buckets of one upstream limit scope, decided all or nothing.
//!
//! Providers apply limits per model class (Anthropic) or per deployment (Azure), and each scope
//! has several limits at once. A lane holds the optional RPM, ITPM, OTPM and combined-TPM buckets
//! of one scope and admits a request only if *every* bucket has room; when one refuses, none is
//! charged. Checking separate limiters one after another (what a governor user must do) spends
//! quota in the first limiter even when the second says no.
//!
//! # Admission
//!
//! All or nothing means a check of every bucket before any is charged. The check only has to
//! find a refusal, and a full bucket never refuses a charge within its burst, so it looks at a
//! busy bucket's sums only; an admission then computes each bucket's charge again rather than
//! carrying eight of them over from the check. And between bursts of traffic every bucket is
//! full: the lane keeps an instant by which all of them are (set by its admissions, forgotten
//! by anything else that may move a bucket later), and an admission at or after it charges
//! every bucket at once, with no check at all.

use core::num::NonZeroU32;

mod fleet;
mod sync;
mod window;

pub use fleet::FleetMember;
pub(crate) use sync::Order;
use window::Window;

use crate::bucket::{Bucket, NARROW_NOW};
use crate::cost::{Charges, Cost, CostModel};
use crate::{Limit, LimitKind};

/// Who is asking: interactive traffic keeps headroom that background traffic may not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Priority {
    /// A person is waiting: may use the whole bucket. The default.
    #[default]
    Interactive,
    /// Batch work: admitted only while the bucket keeps the lane's reserve.
    Background,
}

/// The configuration of one lane: which limits apply, how costs count, what is reserved.
///
/// A lane with no limits is valid: it admits everything until responses teach it the limits
/// (see `Policy::observe`).
///
/// # Examples
///
/// ```
/// use headroom::{CostModel, LaneConfig, Limit, LimitKind, nz};
///
/// // Anthropic Tier 1, Sonnet: 50 RPM, 30 000 ITPM, 8 000 OTPM.
/// let tier1 = LaneConfig::new()
///     .requests(Limit::per_minute(nz!(50)))
///     .input_tokens(Limit::per_minute(nz!(30_000)))
///     .output_tokens(Limit::per_minute(nz!(8_000)))
///     .with_cost_model(CostModel::ANTHROPIC_LEGACY)
///     .with_background_reserve_permille(250);
/// assert_eq!(tier1.limit(LimitKind::Requests), Some(Limit::per_minute(nz!(50))));
/// assert_eq!(tier1.limit(LimitKind::Tokens), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LaneConfig {
    limits: [Option<Limit>; 4],
    cost_model: CostModel,
    background_reserve_permille: u16,
    provisional_requests: Option<Limit>,
    adopt_server_limits: bool,
    max_limit_growth: u8,
    shared_key: bool,
    calibrate_estimates: bool,
    fleet_member: Option<FleetMember>,
}

impl Default for LaneConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl LaneConfig {
    /// The default share of each bucket kept back from background traffic: 20 %.
    pub const DEFAULT_BACKGROUND_RESERVE_PERMILLE: u16 = 200;

    /// The provisional pace of a lane that starts with no limits: 50 requests per minute (the
    /// lowest published Anthropic tier), one at a time.
    pub const DEFAULT_PROVISIONAL_REQUESTS: Limit = match NonZeroU32::new(50) {
        Some(fifty) => Limit::per_minute(fifty),
        None => Limit::per_minute(NonZeroU32::MIN),
    };

    /// A lane with no limits yet: it paces at [`LaneConfig::DEFAULT_PROVISIONAL_REQUESTS`] until
    /// the first response reports the real limits, which it then adopts. Default cost model,
    /// 20 % background reserve.
    pub const fn new() -> Self {
        Self {
            limits: [None; 4],
            cost_model: CostModel::ANTHROPIC_LEGACY,
            background_reserve_permille: Self::DEFAULT_BACKGROUND_RESERVE_PERMILLE,
            provisional_requests: Some(Self::DEFAULT_PROVISIONAL_REQUESTS),
            adopt_server_limits: true,
            max_limit_growth: Self::DEFAULT_MAX_LIMIT_GROWTH,
            shared_key: true,
            calibrate_estimates: true,
            fleet_member: None,
        }
    }

    /// Declares this client member `index` of a fleet of gateways sharing the key, so that it
    /// sends requests only in its own slots of the key's request interval and never collides
    /// with another member in the provider's request bucket (see [`FleetMember`] for the
    /// reasoning and the price). Every member must use a common time line for its instants. The
    /// default is `None`: a client that does not know its fleet is paced by its learned share
    /// alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::num::NonZeroU16;
    /// use headroom::{FleetMember, LaneConfig};
    ///
    /// let member = FleetMember::new(1, NonZeroU16::new(4).unwrap());
    /// assert_eq!(LaneConfig::new().fleet_member(member).member(), member);
    /// assert_eq!(LaneConfig::new().member(), None);
    /// ```
    pub const fn fleet_member(mut self, member: Option<FleetMember>) -> Self {
        self.fleet_member = member;
        self
    }

    /// This client's place in a fleet ([`LaneConfig::fleet_member`]).
    pub const fn member(&self) -> Option<FleetMember> {
        self.fleet_member
    }

    /// Whether the lane learns how far the caller's input estimates run below what the provider
    /// counts, and how far single estimates stray, and charges later estimates scaled up by
    /// the average ratio plus one and a half times its spread (the default: yes). A steady
    /// bias — a tokenizer that counts differently, a characters ÷ 4 rule on text that needs
    /// more — or plain noise otherwise lets requests in flight overdraw the input limit until
    /// their responses settle them. Estimates are never scaled down (settling returns any
    /// surplus, so the long-run pace is the truth's either way). Turn it off to charge exactly
    /// what the caller says.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    ///
    /// assert!(LaneConfig::new().calibrates_estimates());
    /// assert!(!LaneConfig::new().calibrate_estimates(false).calibrates_estimates());
    /// ```
    pub const fn calibrate_estimates(mut self, calibrate: bool) -> Self {
        self.calibrate_estimates = calibrate;
        self
    }

    /// Whether input estimates are calibrated ([`LaneConfig::calibrate_estimates`]).
    pub const fn calibrates_estimates(&self) -> bool {
        self.calibrate_estimates
    }

    /// Whether other clients may spend the same API key (the default: yes). On a shared key
    /// the lane learns which part of the key's spending is its own from successive responses
    /// and claims only that share of what the server reports (starting at a quarter, so that
    /// gateways started together do not each claim the whole key). A client that knows it is
    /// alone on its key can say so and take everything the server reports from the start.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    ///
    /// assert!(LaneConfig::new().is_shared_key());
    /// assert!(!LaneConfig::new().shared_key(false).is_shared_key());
    /// ```
    pub const fn shared_key(mut self, shared: bool) -> Self {
        self.shared_key = shared;
        self
    }

    /// Whether the key may be shared ([`LaneConfig::shared_key`]).
    pub const fn is_shared_key(&self) -> bool {
        self.shared_key
    }

    /// The default [`LaneConfig::max_limit_growth`]: 4×.
    pub const DEFAULT_MAX_LIMIT_GROWTH: u8 = 4;

    /// How much a reported limit may exceed the configured or last learned one and still be
    /// adopted from one response (a multiple, at least 1). A larger one — a tier upgrade, or a
    /// lying or confused proxy — is adopted only when the next response reports it again; until
    /// then the old limit stands. A lane with no limits yet takes its first limits as reported
    /// (the provisional request pace counts as the current requests limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    ///
    /// let cautious = LaneConfig::new().max_limit_growth(2);
    /// assert_eq!(cautious.limit_growth(), 2);
    /// assert_eq!(LaneConfig::new().limit_growth(), 4);
    /// ```
    pub const fn max_limit_growth(mut self, multiple: u8) -> Self {
        self.max_limit_growth = if multiple == 0 { 1 } else { multiple };
        self
    }

    /// The limit growth bound ([`LaneConfig::max_limit_growth`]).
    pub const fn limit_growth(&self) -> u8 {
        self.max_limit_growth
    }

    /// Sets the pace used while a lane with no configured limits has not yet learned any from
    /// headers; `None` admits without limit until then.
    pub const fn provisional_requests(mut self, limit: Option<Limit>) -> Self {
        self.provisional_requests = limit;
        self
    }

    /// Whether limits reported by the server replace configured ones (the default). Turn it off
    /// to keep a deliberately lower, self-imposed limit; levels are still corrected from
    /// `remaining` either way.
    pub const fn adopt_server_limits(mut self, adopt: bool) -> Self {
        self.adopt_server_limits = adopt;
        self
    }

    /// Sets (or with `None`, removes) the limit of one kind.
    pub const fn with_limit(mut self, kind: LimitKind, limit: Option<Limit>) -> Self {
        let [requests, input, output, tokens] = self.limits;
        self.limits = match kind {
            LimitKind::Requests => [limit, input, output, tokens],
            LimitKind::InputTokens => [requests, limit, output, tokens],
            LimitKind::OutputTokens => [requests, input, limit, tokens],
            LimitKind::Tokens => [requests, input, output, limit],
        };
        self
    }

    /// Sets the requests limit (RPM).
    pub const fn requests(self, limit: Limit) -> Self {
        self.with_limit(LimitKind::Requests, Some(limit))
    }

    /// Sets the input-tokens limit (ITPM).
    pub const fn input_tokens(self, limit: Limit) -> Self {
        self.with_limit(LimitKind::InputTokens, Some(limit))
    }

    /// Sets the output-tokens limit (OTPM).
    pub const fn output_tokens(self, limit: Limit) -> Self {
        self.with_limit(LimitKind::OutputTokens, Some(limit))
    }

    /// Sets the combined-tokens limit (TPM).
    pub const fn tokens(self, limit: Limit) -> Self {
        self.with_limit(LimitKind::Tokens, Some(limit))
    }

    /// The same configuration with another cost model: how costs and usage count.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{CostModel, LaneConfig};
    ///
    /// let lane = LaneConfig::new().with_cost_model(CostModel::ANTHROPIC_LEGACY);
    /// assert_eq!(lane.cost_model(), CostModel::ANTHROPIC_LEGACY);
    /// ```
    pub const fn with_cost_model(mut self, cost_model: CostModel) -> Self {
        self.cost_model = cost_model;
        self
    }

    /// The same configuration with another share of each bucket, in thousandths, that
    /// background traffic leaves for interactive traffic (clamped to 1000).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    ///
    /// assert_eq!(LaneConfig::new().with_background_reserve_permille(2_000).background_reserve_permille(), 1_000);
    /// ```
    pub const fn with_background_reserve_permille(mut self, permille: u16) -> Self {
        self.background_reserve_permille = if permille > 1000 { 1000 } else { permille };
        self
    }

    /// The limit of one kind, if configured.
    pub const fn limit(&self, kind: LimitKind) -> Option<Limit> {
        let [requests, input, output, tokens] = self.limits;
        match kind {
            LimitKind::Requests => requests,
            LimitKind::InputTokens => input,
            LimitKind::OutputTokens => output,
            LimitKind::Tokens => tokens,
        }
    }

    /// The cost model.
    pub const fn cost_model(&self) -> CostModel {
        self.cost_model
    }

    /// The background reserve, in thousandths.
    pub const fn background_reserve_permille(&self) -> u16 {
        self.background_reserve_permille
    }
}

/// Why a lane cannot admit a charge now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneRefusal {
    /// Every bucket fits at `until`; `kind` is the one that waits longest.
    Wait { until: u64, kind: LimitKind },
    /// The charge is above the burst of `kind`: it can never be admitted.
    TooLarge { kind: LimitKind },
}

/// A lane's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Lane {
    /// The local pace of each limit: refilled by time alone, never raised by a header. Set
    /// through [`Lane::set_pace`], which keeps `present` in step.
    buckets: [Option<Bucket>; 4],
    /// The provider's window of each limit, corrected from headers (see [`window`]). Set
    /// through [`Lane::set_window`].
    windows: [Option<Window>; 4],
    /// Which paces and windows exist ([`pace_bit`], [`window_bit`]): kept with every change
    /// of the two arrays, so that an admission reads it instead of testing eight slots.
    present: u8,
    /// An instant at or after which every pace and window is full (`u64::MAX` when not
    /// known): no TAT is after it. An admission at or after it charges every bucket without
    /// checking one first ([`Lane::charge_full`]). Set when the lane is made and by admissions
    /// on 64-bit targets (on 32-bit ones the short way, which alone reads it, costs more flash
    /// than it saves time); anything else that may move a TAT later forgets it, and a fleet
    /// member never knows it (its requests wait for their slots, which only the check finds).
    /// Nor does a lane with a bucket that is not narrow ([`Lane::open_short_way`]): the short
    /// way charges in plain 64-bit sums.
    ///
    /// A checked admission leaves the lane's horizon here marked [`UNREAD`]: the bursts and
    /// narrowness the short way needs are read by the first admission at or after it
    /// ([`Lane::read_short_way`]), not after every checked one. The mark puts the value above
    /// every admissible instant, so the short way's own test needs nothing more; reading them
    /// after every checked admission cost a busy lane, whose buckets are never all full, 90
    /// instructions an admission for a short way it never took.
    full_by: u64,
    /// When the latest admission was made (admissions come in time order, see
    /// [`Lane::try_admit`]): a refund for an earlier one never moves a bucket
    /// below the end of the later admissions' own charges ([`Bucket::refund_time`]). One
    /// instant for every bucket, since an admission charges them all; a bucket that came
    /// later has no admission of its own to protect, so the test changes nothing there.
    latest: u64,
    pub(crate) cost_model: CostModel,
    pub(crate) reserve_permille: u16,
    /// The only bucket is the provisional requests pace, to be dropped once limits are learned.
    pub(crate) provisional: bool,
    pub(crate) adopt_server_limits: bool,
    /// How much larger than the current one a reported limit may be and still be adopted at
    /// once (a multiple); a larger one must be reported twice in a row.
    pub(crate) max_limit_growth: u8,
    /// Whether other clients may spend the same key.
    pub(crate) shared_key: bool,
    /// Whether [`Lane::calibrate_input`] learns ([`LaneConfig::calibrate_estimates`]).
    pub(crate) calibrate_estimates: bool,
    /// This client's request slots in a fleet ([`LaneConfig::fleet_member`]).
    pub(crate) fleet_member: Option<FleetMember>,
    /// A reported limit above the growth bound, waiting to be confirmed, per kind (packed:
    /// see [`sync::NOT_PENDING`]).
    pub(crate) pending_limits: [u64; 4],
    /// Admission id of the request whose snapshot was last applied with authority.
    pub(crate) synced: Option<NonZeroU32>,
    /// Moving average of settled output tokens per request ([`crate::OutputCharge::Actual`]).
    pub(crate) output_estimate: u32,
    /// Moving average of settled input tokens per estimated input token, in 1/1024ths
    /// ([`INPUT_SCALE_ONE`] when estimates are right); see [`Lane::calibrate_input`]. The
    /// three calibration figures are `u16`: a ratio is held within [`INPUT_SCALE_RANGE`]
    /// (at most 4 096), so none exceeds 10 240, and three fit where two `u32` did.
    pub(crate) input_scale: u16,
    /// Moving mean absolute deviation of that ratio, same fixed point.
    pub(crate) input_spread: u16,
    /// What [`Lane::upfront`] scales input estimates by, same fixed point: the ratio plus one
    /// and a half spreads, kept with them (settling sets it, admitting only reads it).
    pub(crate) input_charge: u16,
    /// How far, per pace, the refunds that moved every in-flight permit's recorded end at
    /// once have moved them (µs, below 2⁴³): the permit table keeps each end raised by this
    /// base as it was at the admission, and reads it lowered by the base of now (see the
    /// table's `shift_ends_after`).
    pub(crate) refund_base: [u64; 4],
    /// Each pace's burst (`u32::MAX` without a pace) as it was when the short way was last
    /// opened ([`Lane::open_short_way`], [`Lane::read_short_way`]): what it holds a charge to.
    /// Anything that may change a pace forgets [`Lane::full_by`], so while the short way is
    /// open these are the paces' bursts; while it is shut they may be stale (and are compared
    /// all the same). Only on
    /// 64-bit targets, the only ones with a short way.
    #[cfg(target_pointer_width = "64")]
    full_fits: [u32; 4],
}

/// What [`Lane::check`] gathers: the latest wait (every wait is after `now`, so zero means
/// none) and the first pace the charge can never fit.
struct Verdict {
    until: u64,
    kind: LimitKind,
    too_large: Option<LimitKind>,
}

impl Verdict {
    /// The refusal: a rejection when a pace can never fit (the first such pace in
    /// [`LimitKind::ALL`] order), else the latest wait (the first of equal ones).
    #[inline(always)]
    const fn refusal(&self) -> Result<(), LaneRefusal> {
        if let Some(kind) = self.too_large {
            return Err(LaneRefusal::TooLarge { kind });
        }
        if self.until == 0 {
            Ok(())
        } else {
            Err(LaneRefusal::Wait {
                until: self.until,
                kind: self.kind,
            })
        }
    }

    /// Keeps the wait until `at` for `kind` if it is the latest so far (an `at` at or before
    /// `now` is no wait).
    #[inline(always)]
    fn later(&mut self, now: u64, at: u64, kind: LimitKind) {
        if at > now && at > self.until {
            (self.until, self.kind) = (at, kind);
        }
    }
}

/// Time of credit a request of `priority` must leave in `bucket`: `permille` thousandths of
/// its capacity for background traffic.
#[inline]
const fn reserve(bucket: &Bucket, permille: u16, priority: Priority) -> u64 {
    match priority {
        Priority::Interactive => 0,
        Priority::Background => bucket.permille_of_capacity(permille),
    }
}

/// [`Lane::charge_full`] of one kind's pace and window, every bucket narrow and `now` below
/// [`NARROW_NOW`] (see [`Lane::full_by`]): answers where the pace's charge ends (zero without a
/// pace) and raises `full_by` to every TAT it sets.
#[inline(always)]
fn charge_full_kind(
    pace: &mut Option<Bucket>,
    window: &mut Option<Window>,
    now: u64,
    charge: u64,
    full_by: &mut u64,
) -> u64 {
    let mut end = 0;
    if let Some(bucket) = pace {
        end = bucket.take_full_narrow(now, charge);
        *full_by = (*full_by).max(end);
    }
    if let Some(window) = window {
        let bucket = &mut window.bucket;
        let tat = bucket.take_full_narrow(now, charge.min(u64::from(bucket.burst())));
        window.count_admitted(charge);
        *full_by = (*full_by).max(tat);
    }
    end
}

/// An exponential moving average with weight 1/8: `average` moved an eighth of the way to
/// `sample`.
fn toward(average: u32, sample: u32) -> u32 {
    average
        .saturating_sub(average / 8)
        .saturating_add(sample / 8)
}

/// [`Lane::input_scale`] when the caller's input estimates match what the provider counts.
pub(crate) const INPUT_SCALE_ONE: u32 = 1 << INPUT_SCALE_SHIFT;
/// [`INPUT_SCALE_ONE`] as the lane keeps it.
const INPUT_SCALE_ONE_U16: u16 = 1 << INPUT_SCALE_SHIFT;
const INPUT_SCALE_SHIFT: u32 = 10;
/// Each settled request's ratio is taken between a quarter and four times the estimate, so one
/// absurd usage cannot swamp the average.
const INPUT_SCALE_RANGE: (u64, u64) = ((INPUT_SCALE_ONE as u64) / 4, (INPUT_SCALE_ONE as u64) * 4);

/// A mask bit for the window of `kind` (pace buckets use bits 0–3, windows 4–7).
pub(crate) const fn window_bit(kind: LimitKind) -> u8 {
    pace_bit(kind) << 4
}

/// A mask bit for the pace bucket of `kind`.
pub(crate) const fn pace_bit(kind: LimitKind) -> u8 {
    1 << kind.index()
}

/// Marks [`Lane::full_by`] as a horizon whose short way is not read yet: its top bit, since
/// the short way admits only below [`NARROW_NOW`] (`1 << 63`), where sums cannot wrap.
const UNREAD: u64 = NARROW_NOW;

impl Lane {
    pub(crate) fn new(config: &LaneConfig) -> Self {
        let mut buckets = [None, None, None, None];
        let mut windows = [None, None, None, None];
        let fleet = config.fleet_member.map(|member| member.size().get());
        for ((slot, window), kind) in buckets.iter_mut().zip(&mut windows).zip(LimitKind::ALL) {
            *slot = config.limit(kind).map(|limit| Bucket::new(kind, limit));
            *window = config
                .limit(kind)
                .map(|limit| Window::new(kind, limit, config.shared_key, fleet));
        }
        let unconfigured = config.limits.iter().all(Option::is_none);
        let provisional = match (unconfigured, config.provisional_requests) {
            (true, Some(limit)) => {
                let one = limit.with_burst(NonZeroU32::MIN);
                buckets[0] = Some(Bucket::new(LimitKind::Requests, one));
                true
            }
            _ => false,
        };
        let mut lane = Self {
            buckets,
            windows,
            present: 0,
            full_by: u64::MAX,
            latest: 0,
            cost_model: config.cost_model,
            reserve_permille: config.background_reserve_permille,
            provisional,
            adopt_server_limits: config.adopt_server_limits,
            max_limit_growth: config.max_limit_growth,
            shared_key: config.shared_key,
            calibrate_estimates: config.calibrate_estimates,
            fleet_member: config.fleet_member,
            pending_limits: [sync::NOT_PENDING; 4],
            synced: None,
            output_estimate: 0,
            input_scale: INPUT_SCALE_ONE_U16,
            input_spread: 0,
            input_charge: INPUT_SCALE_ONE_U16,
            refund_base: [0; 4],
            #[cfg(target_pointer_width = "64")]
            full_fits: [0; 4],
        };
        lane.present = lane.scan_present();
        // A new window's bucket may start a microsecond short of full (its level is set in
        // whole units): the bound is read from the buckets, not assumed.
        if lane.fleet_member.is_none() {
            lane.open_short_way(lane.horizon());
        }
        lane
    }

    /// Sets (or with `None`, removes) the pace of `kind`.
    pub(crate) fn set_pace(&mut self, kind: LimitKind, pace: Option<Bucket>) {
        if let Some(slot) = self.buckets.get_mut(kind.index()) {
            *slot = pace;
        }
        self.present = self.scan_present();
        self.full_by = u64::MAX;
    }

    /// Sets the window of `kind`.
    pub(crate) fn set_window(&mut self, kind: LimitKind, window: Option<Window>) {
        if let Some(slot) = self.windows.get_mut(kind.index()) {
            *slot = window;
        }
        self.present = self.scan_present();
        self.full_by = u64::MAX;
    }

    /// The windows that exist.
    pub(crate) fn windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter().flatten()
    }

    /// The windows that exist, mutably (forgetting [`Lane::full_by`]: the caller may move
    /// their TATs).
    pub(crate) fn windows_mut(&mut self) -> impl Iterator<Item = &mut Window> {
        self.forget_full();
        self.windows.iter_mut().flatten()
    }

    pub(crate) fn bucket(&self, kind: LimitKind) -> Option<&Bucket> {
        self.buckets.get(kind.index())?.as_ref()
    }

    /// The pace of `kind`, mutably (forgetting [`Lane::full_by`]: the caller may move its TAT).
    pub(crate) fn bucket_mut(&mut self, kind: LimitKind) -> Option<&mut Bucket> {
        self.forget_full();
        self.pace_mut(kind)
    }

    /// The pace of `kind`, mutably, for a caller that forgets [`Lane::full_by`] itself.
    fn pace_mut(&mut self, kind: LimitKind) -> Option<&mut Bucket> {
        self.buckets.get_mut(kind.index())?.as_mut()
    }

    pub(crate) fn window(&self, kind: LimitKind) -> Option<&Window> {
        self.windows.get(kind.index())?.as_ref()
    }

    /// The window of `kind`, mutably (forgetting [`Lane::full_by`]: the caller may move its
    /// TAT).
    pub(crate) fn window_mut(&mut self, kind: LimitKind) -> Option<&mut Window> {
        self.forget_full();
        self.windows.get_mut(kind.index())?.as_mut()
    }

    /// Forgets when every bucket is full ([`Lane::full_by`]), before a change that may move a
    /// TAT later: the next admission checks every bucket.
    pub(crate) const fn forget_full(&mut self) {
        self.full_by = u64::MAX;
    }

    /// Which paces and windows exist, as a bit mask ([`pace_bit`], [`window_bit`]).
    #[inline]
    pub(crate) const fn mask(&self) -> u8 {
        self.present
    }

    /// [`Lane::mask`] read from the slots.
    fn scan_present(&self) -> u8 {
        LimitKind::ALL.into_iter().fold(0, |mask, kind| {
            let pace = if self.bucket(kind).is_some() {
                pace_bit(kind)
            } else {
                0
            };
            let window = if self.window(kind).is_some() {
                window_bit(kind)
            } else {
                0
            };
            mask | pace | window
        })
    }

    /// Opens the short way from the buckets, given their [`Lane::horizon`]: [`Lane::full_by`]
    /// is the horizon when every bucket is narrow ([`Bucket::is_narrow`]), else never
    /// (`u64::MAX`), so that the short way's plain arithmetic only ever meets buckets whose
    /// charges cannot overflow it; on 64-bit targets each pace's burst is kept in
    /// [`Lane::full_fits`]. One pass over the slots, when the lane is made (after a checked
    /// admission, [`Lane::read_short_way`] does its part when the short way is next possible).
    fn open_short_way(&mut self, horizon: u64) {
        let narrow = self.all_narrow();
        self.keep_bursts();
        self.full_by = if narrow { horizon } else { u64::MAX };
    }

    /// Whether every pace and window is narrow ([`Bucket::is_narrow`]).
    fn all_narrow(&self) -> bool {
        let mut narrow = true;
        for (pace, window) in self.buckets.iter().zip(&self.windows) {
            narrow &= pace.as_ref().is_none_or(Bucket::is_narrow);
            narrow &= window
                .as_ref()
                .is_none_or(|window| window.bucket.is_narrow());
        }
        narrow
    }

    /// Keeps each pace's burst in [`Lane::full_fits`] (64-bit targets: the others have none).
    fn keep_bursts(&mut self) {
        #[cfg(target_pointer_width = "64")]
        for (fit, pace) in self.full_fits.iter_mut().zip(&self.buckets) {
            *fit = pace.as_ref().map_or(u32::MAX, Bucket::burst);
        }
    }

    /// Opens the short way at the horizon [`Lane::full_by`] holds marked [`UNREAD`] (out of
    /// line: once after a run of checked admissions, when the lane is next full) and answers
    /// `full_by` as it then is. A lane with a bucket that is not narrow is left as it was
    /// (and answers `u64::MAX`): the caller admits by the short way whenever this opens it,
    /// so that nothing changes in a lane that then refuses.
    #[inline(never)]
    fn read_short_way(&mut self) -> u64 {
        if !self.all_narrow() {
            return u64::MAX;
        }
        self.keep_bursts();
        self.full_by ^= UNREAD;
        self.full_by
    }

    /// The latest instant any pace or window is busy until (for the engine clock's bound).
    pub(crate) fn horizon(&self) -> u64 {
        let paces = self.buckets.iter().flatten();
        let windows = self.windows.iter().flatten().map(|window| &window.bucket);
        paces
            .chain(windows)
            .map(|bucket| bucket.full_at().as_ticks())
            .max()
            .unwrap_or(0)
    }

    /// Admits `charges` at `now` in every pace and window, or in none; answers where each
    /// pace's charge ends (its TAT right after, unused entries for absent paces). `now` never
    /// goes backwards from one admission to the next (the policy admits at its engine clock's
    /// instants): the latest admission is `now` itself, with no comparison.
    #[inline]
    pub(crate) fn try_admit(
        &mut self,
        now: u64,
        charges: &Charges,
        priority: Priority,
    ) -> Result<[u64; 4], LaneRefusal> {
        // On 32-bit targets the short way's own code would cost more flash than it saves time.
        // Past `full_by`, or past a horizon left unread (`UNREAD`), read only for a charge
        // every pace's burst holds (so that reading it is followed by the admission: a
        // refusal changes nothing); a forgotten `full_by` (`u64::MAX`) reads as `UNREAD - 1`,
        // which no admissible instant reaches. One call of `charge_full`: a second one kept it
        // from being inlined.
        if cfg!(target_pointer_width = "64")
            && now < UNREAD - 1
            && (self.full_by <= now
                || (self.full_by ^ UNREAD <= now
                    && self.fits(charges)
                    && self.read_short_way() <= now))
            && self.fits_full(charges)
        {
            return Ok(self.charge_full(now, charges));
        }
        self.check(now, charges, priority).refusal()?;
        Ok(self.charge_checked(now, charges))
    }

    /// [`Lane::try_admit`] once the check admitted `charges`: every pace and window admits its
    /// charge, what each admission is computed again rather than carried over from the check,
    /// which needs none of it to refuse.
    // Out of line: its walk over the slots reads `charges` from memory, and inlined that kept
    // them in memory on every admission, the short way's too (4 instructions, by callgrind).
    #[inline(never)]
    fn charge_checked(&mut self, now: u64, charges: &Charges) -> [u64; 4] {
        self.admitting_at(now);
        let mut ends = [0; 4];
        // Every pace and window is charged, so the latest TAT after is the lane's horizon.
        let mut horizon = 0;
        let slots = self.buckets.iter_mut().zip(&mut self.windows);
        for (((pace, window), end), &charge) in slots.zip(&mut ends).zip(&charges.0) {
            if let Some(bucket) = pace {
                *end = bucket.take_admissible(now, charge);
                horizon = horizon.max(*end);
            }
            if let Some(window) = window {
                let bucket = &mut window.bucket;
                let tat = bucket.take_admissible(now, charge.min(u64::from(bucket.burst())));
                window.count_admitted(charge);
                horizon = horizon.max(tat);
            }
        }
        // A fleet member's requests wait for their slots, which only the check finds. Any other
        // lane's short way opens at its horizon, once read (`Lane::full_by`).
        self.full_by = if cfg!(target_pointer_width = "64")
            && self.fleet_member.is_none()
            && horizon < UNREAD - 1
        {
            horizon | UNREAD
        } else {
            u64::MAX
        };
        ends
    }

    /// Records `now` as the latest admission: admissions come in time order (see
    /// [`Lane::try_admit`]), so with no comparison.
    #[inline(always)]
    fn admitting_at(&mut self, now: u64) {
        debug_assert!(
            self.latest <= now,
            "admission at {now} after {}",
            self.latest
        );
        self.latest = now;
    }

    /// [`Lane::try_admit`] when every pace and window is full at `now` ([`Lane::full_by`]) and
    /// every pace holds its charge: each admits its charge (a window's held to its burst),
    /// whatever the reserve — a full bucket's capacity is never below a charge within its burst
    /// ([`Bucket::check`]) — so each is charged at once, its TAT `now + n·T`, with no check
    /// first and no verdict carried over. Between bursts of traffic, the common case.
    #[inline]
    fn charge_full(&mut self, now: u64, charges: &Charges) -> [u64; 4] {
        self.admitting_at(now);
        // Written out per kind, as the check is: every slot at a constant offset.
        let [requests, input, output, tokens] = charges.0;
        let [pace_r, pace_i, pace_o, pace_t] = &mut self.buckets;
        let [window_r, window_i, window_o, window_t] = &mut self.windows;
        let mut full_by = 0;
        let ends = [
            charge_full_kind(pace_r, window_r, now, requests, &mut full_by),
            charge_full_kind(pace_i, window_i, now, input, &mut full_by),
            charge_full_kind(pace_o, window_o, now, output, &mut full_by),
            charge_full_kind(pace_t, window_t, now, tokens, &mut full_by),
        ];
        self.full_by = full_by;
        ends
    }

    /// Whether `charges` would be admitted at `now`, changing nothing.
    pub(crate) fn probe(
        &self,
        now: u64,
        charges: &Charges,
        priority: Priority,
    ) -> Result<(), LaneRefusal> {
        self.check(now, charges, priority).refusal()
    }

    /// Whether every pace and window admits `charges` at `now`, and if not why (see
    /// [`Verdict`]).
    ///
    /// Written out per kind rather than as a loop over the slots, so that every slot is read
    /// at a constant offset and an absent one costs one test. Inlined on 64-bit targets; on
    /// 32-bit ones one copy serves both callers (admission and `probe`: −260 B on a Cortex-M4).
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn check(&self, now: u64, charges: &Charges, priority: Priority) -> Verdict {
        let mut verdict = Verdict {
            until: 0,
            kind: LimitKind::Requests,
            too_large: None,
        };
        let [requests, input, output, tokens] = charges.0;
        self.check_kind(now, LimitKind::Requests, requests, priority, &mut verdict);
        self.check_kind(now, LimitKind::InputTokens, input, priority, &mut verdict);
        self.check_kind(now, LimitKind::OutputTokens, output, priority, &mut verdict);
        self.check_kind(now, LimitKind::Tokens, tokens, priority, &mut verdict);
        if verdict.too_large.is_none()
            && let Some(member) = self.fleet_member
            && requests > 0
            && let Some(interval) = self.request_interval()
        {
            let ready = if verdict.until == 0 {
                now
            } else {
                verdict.until
            };
            let send = member.next_send(ready, interval);
            if send > ready {
                (verdict.until, verdict.kind) = (send, LimitKind::Requests);
            }
        }
        verdict
    }

    /// [`Lane::check`] of one kind's pace and window. A window's capacity is a learned
    /// estimate, so a charge above it is held to it (it waits for a full window rather than
    /// being rejected).
    // Inlined four times on 64-bit targets, where that keeps every slot at a constant offset
    // and the verdict in registers; one shared copy on 32-bit ones, where each inlined copy is
    // most of a kilobyte of flash.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn check_kind(
        &self,
        now: u64,
        kind: LimitKind,
        charge: u64,
        priority: Priority,
        verdict: &mut Verdict,
    ) {
        let index = kind.index();
        let permille = self.reserve_permille;
        if let Some(Some(bucket)) = self.buckets.get(index) {
            if charge > u64::from(bucket.burst()) {
                verdict.too_large = verdict.too_large.or(Some(kind));
            } else {
                let at = bucket.admissible_at(now, charge, reserve(bucket, permille, priority));
                verdict.later(now, at, kind);
            }
        }
        if let Some(Some(window)) = self.windows.get(index) {
            let bucket = &window.bucket;
            let charge = charge.min(u64::from(bucket.burst()));
            let at = bucket.admissible_at(now, charge, reserve(bucket, permille, priority));
            verdict.later(now, at, kind);
        }
    }

    /// The size of this client's fleet, when it was told one.
    pub(crate) fn fleet_size(&self) -> Option<u16> {
        self.fleet_member.map(|member| member.size().get())
    }

    /// The key's request interval (µs per request): the requests pace refills at the key's
    /// whole limit (the window refills at this client's learned share, which differs from one
    /// member to the next, so it cannot cut common slots).
    fn request_interval(&self) -> Option<u64> {
        self.bucket(LimitKind::Requests)
            .map(|bucket| bucket.cost_time(1))
    }

    /// What `cost` charges up front on this lane: its input estimate raised by the learned
    /// [charge scale](Lane::calibrate_input) (the ratio plus one and a half spreads) when it
    /// exceeds one.
    pub(crate) fn upfront(&self, cost: &Cost) -> Charges {
        let scale = u32::from(self.input_charge);
        if scale > INPUT_SCALE_ONE {
            return self.upfront_scaled(cost, scale);
        }
        self.cost_model
            .upfront(cost, self.output_estimate_by(cost.input_tokens()))
    }

    /// [`Lane::upfront`] of a lane whose charge scale exceeds one. Out of line: inlined, its
    /// code cost every admission of an uncalibrated lane up to 40 instructions (callgrind).
    #[inline(never)]
    fn upfront_scaled(&self, cost: &Cost, scale: u32) -> Charges {
        let input = cost
            .input_tokens()
            .checked_mul(u64::from(scale))
            .map_or(u64::MAX, |scaled| scaled >> INPUT_SCALE_SHIFT);
        let scaled = Cost::new(cost.requests(), input, cost.max_tokens());
        let charges = self
            .cost_model
            .upfront(&scaled, self.output_estimate_by(input));
        // Calibration never turns a request that fits every pace into one that never can.
        if self.fits(&charges) {
            charges
        } else {
            self.cost_model
                .upfront(cost, self.output_estimate_by(cost.input_tokens()))
        }
    }

    /// The output estimate charged next to an input charge of `input`: the running estimate,
    /// capped by [`Lane::output_room`] on a lane that charges it ([`crate::OutputCharge::Actual`];
    /// a lane that reserves `max_tokens` does not read it at all).
    fn output_estimate_by(&self, input: u64) -> u64 {
        let estimate = u64::from(self.output_estimate);
        if estimate != 0 && self.cost_model.output == crate::OutputCharge::Actual {
            self.output_room(input)
        } else {
            estimate
        }
    }

    /// The running output estimate ([`crate::OutputCharge::Actual`]), at most what the paces
    /// hold of output next to `input`: the output pace's burst, and the combined pace's burst
    /// less the input.
    ///
    /// Why: the estimate is not the request's cost. Above a pace's burst (a first answer longer
    /// than a small output limit holds: 10 000 tokens under 8 000 a minute), every later request
    /// with a larger `max_tokens` was refused as one that can never fit, and none of them ever
    /// settled to bring the estimate down: the lane refused them for good, though the provider,
    /// which counts only what is generated, serves them. Capped, such a request waits for a
    /// full bucket instead (as a provider window caps a charge at its burst).
    ///
    /// Out of line, and asked only under [`crate::OutputCharge::Actual`]: inlined into
    /// `acquire`, the two bursts' reads cost an admission 26 instructions whatever the lane's
    /// cost model.
    #[inline(never)]
    fn output_room(&self, input: u64) -> u64 {
        let estimate = u64::from(self.output_estimate);
        let burst = |kind: LimitKind| {
            self.bucket(kind)
                .map_or(u64::MAX, |bucket| u64::from(bucket.burst()))
        };
        estimate
            .min(burst(LimitKind::OutputTokens))
            .min(burst(LimitKind::Tokens).saturating_sub(input))
    }

    /// [`Lane::fits`] while the short way is open ([`Lane::full_fits`]): no slot tested.
    #[cfg(target_pointer_width = "64")]
    #[inline(always)]
    fn fits_full(&self, charges: &Charges) -> bool {
        let [r, i, o, t] = charges.0;
        let [fr, fi, fo, ft] = self.full_fits;
        r <= u64::from(fr) && i <= u64::from(fi) && o <= u64::from(fo) && t <= u64::from(ft)
    }

    /// [`Lane::fits`] (32-bit targets keep no [`Lane::full_fits`], and never open the short way).
    #[cfg(not(target_pointer_width = "64"))]
    fn fits_full(&self, charges: &Charges) -> bool {
        self.fits(charges)
    }

    /// Whether every pace's burst holds `charges`.
    fn fits(&self, charges: &Charges) -> bool {
        self.buckets
            .iter()
            .zip(LimitKind::ALL)
            .all(|(bucket, kind)| {
                bucket
                    .as_ref()
                    .is_none_or(|bucket| charges.get(kind) <= u64::from(bucket.burst()))
            })
    }

    /// Folds one settled request's input into the running ratio of actual to estimated input
    /// tokens and into its spread: exponential moving averages with weight 1/8 of the ratio and
    /// of its absolute deviation from the average, each ratio taken within
    /// [`INPUT_SCALE_RANGE`].
    ///
    /// Why: a caller that estimates input too low (a tokenizer that counts differently, a
    /// characters ÷ 4 rule on a language that needs more) admits more than the provider will
    /// count while its requests are in flight; settling corrects each one only once its
    /// response is back. A steady bias is learnable, and so is how far single estimates stray
    /// around it, so [`Lane::upfront`] charges estimates scaled by the average ratio plus one and
    /// a half times its spread (an estimate then covers the truth most of the time, not half of
    /// it). Only upwards: an estimate that runs high errs on the safe side, and settling already
    /// gives its surplus back, so the long-run pace is the truth's either way. `estimate` is the
    /// caller's own figure (never the scaled charge, which would feed the scale back into
    /// itself); a request without an estimate or without input teaches nothing.
    pub(crate) fn calibrate_input(&mut self, estimate: u64, actual: u64) {
        if !self.calibrate_estimates || estimate == 0 || actual == 0 {
            return;
        }
        let (low, high) = INPUT_SCALE_RANGE;
        // Settle path, not admission: one u64 division per response is affordable here.
        let ratio = actual
            .saturating_mul(u64::from(INPUT_SCALE_ONE))
            .checked_div(estimate)
            .unwrap_or(high)
            .clamp(low, high);
        let ratio = u32::try_from(ratio).unwrap_or(u32::MAX);
        let scale = u32::from(self.input_scale);
        let spread = toward(u32::from(self.input_spread), ratio.abs_diff(scale));
        let scale = toward(scale, ratio);
        // One and a half spreads, measured over 20 seeds of the simulator with input estimates
        // off by ±30 %: with one, 0.4 % of requests met a 429; with one and a half, 0.15 %;
        // with two, 0.05–0.08 %, but a fleet of 4 gateways told their slots took 3 % longer.
        let charge = scale.saturating_add(spread.saturating_add(spread / 2));
        let fixed = |value: u32| u16::try_from(value).unwrap_or(u16::MAX);
        self.input_scale = fixed(scale);
        self.input_spread = fixed(spread);
        self.input_charge = fixed(charge);
    }

    /// Folds one settled request's actual output into the running estimate: an exponential
    /// moving average with weight 1/8, the first sample taken as is.
    pub(crate) fn learn_output(&mut self, output_tokens: u64) {
        let sample = u32::try_from(output_tokens).unwrap_or(u32::MAX);
        self.output_estimate = if self.output_estimate == 0 {
            sample
        } else {
            toward(self.output_estimate, sample)
        };
    }

    /// Moves each pace and window in `mask` from the `charged` amount to the `actual` one, for
    /// a request admitted at `admitted_at` whose charge on each pace ended at `ends` (the pace's
    /// TAT right after it). `never_charged` says the provider never charged the request at all
    /// (it refused it, or it was never sent). Answers, per kind, how much earlier a refund
    /// moved the pace's TAT ([`Bucket::refund_time`]): the charges of the requests admitted
    /// after this one moved that much earlier with it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one reservation's facts, read in one place"
    )]
    pub(crate) fn reconcile(
        &mut self,
        now: u64,
        mask: u8,
        charged: &Charges,
        actual: &Charges,
        admitted_at: u64,
        ends: &[u64; 4],
        never_charged: bool,
    ) -> [u64; 4] {
        let delta =
            |kind: LimitKind| (actual.get(kind) as u32).wrapping_sub(charged.get(kind) as u32);
        self.forget_full();
        let older = admitted_at < self.latest;
        let mut shifts = [0; 4];
        for kind in LimitKind::ALL {
            let (was, is) = (charged.get(kind), actual.get(kind));
            if mask & pace_bit(kind) != 0
                && let Some(bucket) = self.pace_mut(kind)
                && let (Some(&end), Some(shift)) =
                    (ends.get(kind.index()), shifts.get_mut(kind.index()))
            {
                *shift = bucket.reconcile(now, was, is, older, end);
            }
            // The provider charges requests and input tokens as they arrive, so a correction
            // of those belongs to the admission; reserved output it gives back on completion.
            let retro = match kind {
                _ if never_charged => delta(kind),
                LimitKind::Requests | LimitKind::InputTokens => delta(kind),
                LimitKind::OutputTokens => 0,
                LimitKind::Tokens => delta(LimitKind::InputTokens),
            };
            if mask & window_bit(kind) != 0
                && let Some(window) = self.window_mut(kind)
            {
                window.reconcile(now, was, is, older);
                window.count_own(delta(kind), retro, admitted_at);
            }
        }
        shifts
    }
}

#[cfg(test)]
mod tests;
