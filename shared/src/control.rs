//! Controls (the conditioning branches of Cosmos Transfer) and sets of them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One control branch. Variants are declared in alphabetical order, so the derived `Ord` sorts
/// controls by name: a control signature is "the sorted active controls".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Control {
    Depth,
    Edge,
    Hdmap,
    Keypoint,
    Lidar,
    Seg,
    Vis,
}

impl Control {
    /// Every control, sorted by name.
    pub const ALL: [Control; 7] = [
        Control::Depth,
        Control::Edge,
        Control::Hdmap,
        Control::Keypoint,
        Control::Lidar,
        Control::Seg,
        Control::Vis,
    ];

    /// The key Cosmos Transfer uses for this control in its spec files.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Depth => "depth",
            Control::Edge => "edge",
            Control::Hdmap => "hdmap",
            Control::Keypoint => "keypoint",
            Control::Lidar => "lidar",
            Control::Seg => "seg",
            Control::Vis => "vis",
        }
    }

    /// Whether Cosmos can generate this control's input from the video on the fly.
    /// `hdmap` and `lidar` must always be supplied.
    pub fn can_generate(self) -> bool {
        !matches!(self, Control::Hdmap | Control::Lidar)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown control name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown control `{0}` (expected one of: depth, edge, hdmap, keypoint, lidar, seg, vis)")]
pub struct UnknownControl(pub String);

impl FromStr for Control {
    type Err = UnknownControl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Control::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownControl(s.to_string()))
    }
}

/// A set of controls as a bit set; iterates in sorted (name) order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ControlSet(u8);

impl ControlSet {
    pub const EMPTY: ControlSet = ControlSet(0);

    pub fn single(control: Control) -> Self {
        ControlSet(control.bit())
    }

    pub fn insert(&mut self, control: Control) {
        self.0 |= control.bit();
    }

    pub fn contains(self, control: Control) -> bool {
        self.0 & control.bit() != 0
    }

    pub fn union(self, other: ControlSet) -> ControlSet {
        ControlSet(self.0 | other.0)
    }

    /// Controls in `self` that are not in `other`.
    pub fn difference(self, other: ControlSet) -> ControlSet {
        ControlSet(self.0 & !other.0)
    }

    pub fn is_subset(self, other: ControlSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bits (stable: bit i is `Control::ALL[i]`), for hashing.
    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn iter(self) -> impl Iterator<Item = Control> {
        Control::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    pub fn to_vec(self) -> Vec<Control> {
        self.iter().collect()
    }

    /// `edge+depth` style label for humans (sorted by name).
    pub fn label(self) -> String {
        if self.is_empty() {
            return "no controls".to_string();
        }
        self.iter()
            .map(Control::as_str)
            .collect::<Vec<_>>()
            .join("+")
    }
}

impl FromIterator<Control> for ControlSet {
    fn from_iter<I: IntoIterator<Item = Control>>(iter: I) -> Self {
        let mut set = ControlSet::EMPTY;
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Display for ControlSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_sort_by_name_and_round_trip() {
        let mut names: Vec<&str> = Control::ALL.iter().map(|c| c.as_str()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted);
        for name in names.drain(..) {
            assert_eq!(name.parse::<Control>().unwrap().as_str(), name);
        }
        assert!("upscale".parse::<Control>().is_err());
        assert_eq!(
            serde_json::to_string(&Control::Keypoint).unwrap(),
            "\"keypoint\""
        );
    }

    #[test]
    fn set_operations() {
        let a: ControlSet = [Control::Vis, Control::Edge].into_iter().collect();
        let b = ControlSet::single(Control::Depth);
        assert_eq!(a.label(), "edge+vis");
        assert_eq!(a.union(b).label(), "depth+edge+vis");
        assert_eq!(a.union(b).difference(a), b);
        assert!(b.is_subset(a.union(b)));
        assert!(!a.is_subset(b));
        assert_eq!(a.len(), 2);
        assert_eq!(ControlSet::EMPTY.label(), "no controls");
    }

    #[test]
    fn hdmap_and_lidar_cannot_be_generated() {
        let generated: Vec<_> = Control::ALL
            .into_iter()
            .filter(|c| !c.can_generate())
            .collect();
        assert_eq!(generated, vec![Control::Hdmap, Control::Lidar]);
    }
}
