//! The register of English housing authorities (docs/rules.md §6): every district council, unitary
//! authority, metropolitan borough, London borough, the City of London and the Isles of Scilly — the
//! councils to which a s.213B referral can be made. Compiled into the binary from `domain/data/`
//! (sources in `housing-authorities.SOURCE.md`), so the service needs no files at run time. Beside
//! it, the councils of each postcode district (`postcode-districts.SOURCE.md`), for finding the
//! council a person chose by where they are.

use crate::issue::{Code, Rejection};
use serde::Serialize;
use std::sync::LazyLock;

const AUTHORITIES_CSV: &str = include_str!("../data/housing-authorities.csv");
const COUNTIES_CSV: &str = include_str!("../data/county-councils.csv");
const SUPERSEDED_CSV: &str = include_str!("../data/superseded-codes.csv");
const ABOLISHED_COUNTIES_CSV: &str = include_str!("../data/abolished-county-councils.csv");
const POSTCODE_DISTRICTS_CSV: &str = include_str!("../data/postcode-districts.csv");

/// The kind of council, from its ONS GSS code prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityKind {
    /// E06: unitary authority.
    Unitary,
    /// E06000053: the Council of the Isles of Scilly.
    IslesOfScilly,
    /// E07: district council in a two-tier county.
    NonMetropolitanDistrict,
    /// E08: metropolitan borough.
    MetropolitanBorough,
    /// E09: London borough.
    LondonBorough,
    /// E09000001: the City of London Corporation.
    CityOfLondon,
}

impl crate::Vocabulary for AuthorityKind {
    const NAME: &'static str = "AuthorityKind";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("unitary", AuthorityKind::Unitary),
        ("isles_of_scilly", AuthorityKind::IslesOfScilly),
        (
            "non_metropolitan_district",
            AuthorityKind::NonMetropolitanDistrict,
        ),
        ("metropolitan_borough", AuthorityKind::MetropolitanBorough),
        ("london_borough", AuthorityKind::LondonBorough),
        ("city_of_london", AuthorityKind::CityOfLondon),
    ];

    fn label(self) -> &'static str {
        match self {
            AuthorityKind::Unitary => "Unitary authority",
            AuthorityKind::IslesOfScilly => "Council of the Isles of Scilly",
            AuthorityKind::NonMetropolitanDistrict => "District council",
            AuthorityKind::MetropolitanBorough => "Metropolitan borough",
            AuthorityKind::LondonBorough => "London borough",
            AuthorityKind::CityOfLondon => "City of London Corporation",
        }
    }
}

impl AuthorityKind {
    /// The wire spelling (snake_case, like every enumeration of the API).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::Unitary => "unitary",
            AuthorityKind::IslesOfScilly => "isles_of_scilly",
            AuthorityKind::NonMetropolitanDistrict => "non_metropolitan_district",
            AuthorityKind::MetropolitanBorough => "metropolitan_borough",
            AuthorityKind::LondonBorough => "london_borough",
            AuthorityKind::CityOfLondon => "city_of_london",
        }
    }

    fn from_register(s: &str) -> Option<Self> {
        [
            AuthorityKind::Unitary,
            AuthorityKind::IslesOfScilly,
            AuthorityKind::NonMetropolitanDistrict,
            AuthorityKind::MetropolitanBorough,
            AuthorityKind::LondonBorough,
            AuthorityKind::CityOfLondon,
        ]
        .into_iter()
        // The register's data file spells kinds with hyphens.
        .find(|k| k.as_str() == s.replace('-', "_"))
    }
}

/// One English housing authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HousingAuthority {
    /// Its current ONS GSS code, e.g. `E08000039` (Sheffield).
    pub gss_code: String,
    /// Its ONS name.
    pub name: String,
    /// What kind of council it is.
    pub kind: AuthorityKind,
}

/// The six metropolitan counties (ONS `E11` codes; Tyne and Wear was re-coded from E11000004 to
/// E11000007 in 2014) and the metropolitan boroughs in each, which are their housing authorities
/// (Local Government Act 1985 abolished the county councils; source: ONS Register of Geographic
/// Codes). A referral addressed to one is told the boroughs to choose from.
pub const METROPOLITAN_COUNTIES: &[(&str, &str, &[&str])] = &[
    (
        "E11000001",
        "Greater Manchester",
        &[
            "E08000001",
            "E08000002",
            "E08000003",
            "E08000004",
            "E08000005",
            "E08000006",
            "E08000007",
            "E08000008",
            "E08000009",
            "E08000010",
        ],
    ),
    (
        "E11000002",
        "Merseyside",
        &[
            "E08000011",
            "E08000012",
            "E08000013",
            "E08000014",
            "E08000015",
        ],
    ),
    (
        "E11000003",
        "South Yorkshire",
        &["E08000038", "E08000017", "E08000018", "E08000039"],
    ),
    (
        "E11000004",
        "Tyne and Wear",
        &[
            "E08000037",
            "E08000021",
            "E08000022",
            "E08000023",
            "E08000024",
        ],
    ),
    (
        "E11000005",
        "West Midlands",
        &[
            "E08000025",
            "E08000026",
            "E08000027",
            "E08000028",
            "E08000029",
            "E08000030",
            "E08000031",
        ],
    ),
    (
        "E11000006",
        "West Yorkshire",
        &[
            "E08000032",
            "E08000033",
            "E08000034",
            "E08000035",
            "E08000036",
        ],
    ),
    (
        "E11000007",
        "Tyne and Wear",
        &[
            "E08000037",
            "E08000021",
            "E08000022",
            "E08000023",
            "E08000024",
        ],
    ),
];

/// A code that no longer names a current authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupersededCode {
    /// The old code.
    pub former_code: String,
    /// The old authority's name.
    pub name: String,
    /// `true` when the same council only changed its code (Barnsley and Sheffield, 2025).
    pub recoded: bool,
    /// The code of the authority that took over (or the new code of the same council).
    pub current_code: String,
}

/// A county council abolished in the 2019–2023 reorganisations, and the unitary councils that took
/// over its area (no district councils remain under them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AbolishedCounty {
    former_code: String,
    name: String,
    successor_codes: Vec<String>,
}

/// What the register knows of a postcode district (`postcode-districts.SOURCE.md`): a way to
/// find the council a person chose, never a decision — a district often spans several councils.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictCouncils<'a> {
    /// The English housing authorities with postcodes in the district, in GSS code order; empty
    /// when the whole district is in Wales, Scotland or Northern Ireland.
    pub authorities: Vec<&'a HousingAuthority>,
    /// Some of the district is outside England, where the duty to refer does not reach.
    pub outside_england: bool,
}

/// One row of the postcode district table: indexes into `authorities`.
#[derive(Debug)]
struct District {
    district: String,
    authorities: Vec<usize>,
    outside_england: bool,
}

/// The whole register.
#[derive(Debug)]
pub struct Register {
    authorities: Vec<HousingAuthority>,
    counties: Vec<(String, String)>,
    superseded: Vec<SupersededCode>,
    abolished_counties: Vec<AbolishedCounty>,
    districts: Vec<District>,
}

/// The register compiled into this build.
pub fn register() -> &'static Register {
    static REGISTER: LazyLock<Register> = LazyLock::new(Register::compiled);
    &REGISTER
}

fn rows(csv_text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(csv_text.as_bytes())
        .records()
        .map(|r| r.expect("the compiled-in register is well-formed CSV (pinned by register tests)"))
        .collect()
}

/// How a submitted GSS code resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The authority the referral goes to.
    pub authority: &'static HousingAuthority,
    /// The former code that was given, when the authority was re-coded.
    pub former_code: Option<String>,
}

impl Register {
    fn compiled() -> Register {
        let authorities: Vec<HousingAuthority> = rows(AUTHORITIES_CSV)
            .iter()
            .map(|r| HousingAuthority {
                gss_code: r[0].to_owned(),
                name: r[1].to_owned(),
                kind: AuthorityKind::from_register(&r[2])
                    .expect("known kind (pinned by register tests)"),
            })
            .collect();
        let counties = rows(COUNTIES_CSV)
            .iter()
            .map(|r| (r[0].to_owned(), r[1].to_owned()))
            .collect();
        let superseded = rows(SUPERSEDED_CSV)
            .iter()
            .map(|r| SupersededCode {
                former_code: r[0].to_owned(),
                name: r[1].to_owned(),
                recoded: &r[2] == "recoded",
                current_code: r[4].to_owned(),
            })
            .collect();
        let abolished_counties = rows(ABOLISHED_COUNTIES_CSV)
            .iter()
            .map(|r| AbolishedCounty {
                former_code: r[0].to_owned(),
                name: r[1].to_owned(),
                successor_codes: r[3].split(';').map(str::to_owned).collect(),
            })
            .collect();
        let districts = rows(POSTCODE_DISTRICTS_CSV)
            .iter()
            .map(|r| District {
                district: r[0].to_owned(),
                authorities: r[1]
                    .split(';')
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        authorities
                            .binary_search_by(|a: &HousingAuthority| a.gss_code.as_str().cmp(c))
                            .expect("a current authority (pinned by register tests)")
                    })
                    .collect(),
                outside_england: &r[2] == "yes",
            })
            .collect();
        Register {
            authorities,
            counties,
            superseded,
            abolished_counties,
            districts,
        }
    }

    /// Every authority, in GSS code order.
    pub fn authorities(&self) -> &[HousingAuthority] {
        &self.authorities
    }

    /// The authority with this current code.
    pub fn get(&self, gss_code: &str) -> Option<&HousingAuthority> {
        self.authorities
            .binary_search_by(|a| a.gss_code.as_str().cmp(gss_code))
            .ok()
            .map(|i| &self.authorities[i])
    }

    /// Authorities whose name contains `query` (case-insensitive) or whose code starts with it.
    pub fn search<'a>(
        &'a self,
        query: &str,
    ) -> impl Iterator<Item = &'a HousingAuthority> + use<'a> {
        let needle = query.trim().to_lowercase();
        let code = query.trim().to_ascii_uppercase();
        self.authorities.iter().filter(move |a| {
            needle.is_empty()
                || a.name.to_lowercase().contains(&needle)
                || a.gss_code.starts_with(&code)
        })
    }

    /// The councils of a postcode district; `None` when the table does not know it (a district
    /// made since the table's source, or not a real one).
    pub fn councils_in(&self, district: &crate::PostcodeDistrict) -> Option<DistrictCouncils<'_>> {
        let i = self
            .districts
            .binary_search_by(|d| d.district.as_str().cmp(district.as_str()))
            .ok()?;
        let d = &self.districts[i];
        Some(DistrictCouncils {
            authorities: d
                .authorities
                .iter()
                .map(|&a| &self.authorities[a])
                .collect(),
            outside_england: d.outside_england,
        })
    }

    /// Resolves a submitted code (s.213B: the referral goes to a *housing authority in England*).
    ///
    /// - a current code resolves to its authority;
    /// - Barnsley's and Sheffield's pre-2025 codes resolve to the same council (caller warns);
    /// - an abolished council's code is `housing_authority.unknown`, naming its successor;
    /// - a current county council (E10) is `housing_authority.not_housing_authority`: the district
    ///   decides;
    /// - an abolished county council is `housing_authority.unknown`, naming the unitary councils
    ///   that serve its area now (there is no district council to refer to);
    /// - a Welsh, Scottish or Northern Irish code is `housing_authority.not_in_england`;
    /// - anything else is `housing_authority.unknown`.
    pub fn resolve(&'static self, raw: &str) -> Result<Resolution, Rejection> {
        let code = raw.trim().to_ascii_uppercase();
        if let Some(authority) = self.get(&code) {
            return Ok(Resolution {
                authority,
                former_code: None,
            });
        }
        let well_formed = code.len() == 9
            && code.as_bytes()[0].is_ascii_uppercase()
            && code.as_bytes()[1..].iter().all(u8::is_ascii_digit);
        if !well_formed {
            return Err(Rejection::new(
                Code::HousingAuthorityUnknown,
                "Expected the ONS GSS code of an English housing authority, a letter and eight digits such as E09000033; see GET /v1/authorities.",
            ));
        }
        if let Some(old) = self.superseded.iter().find(|s| s.former_code == code) {
            let Some(successor) = self.get(&old.current_code) else {
                return Err(Rejection::new(
                    Code::HousingAuthorityUnknown,
                    format!("{code} is no longer in use."),
                ));
            };
            if old.recoded {
                return Ok(Resolution {
                    authority: successor,
                    former_code: Some(code),
                });
            }
            return Err(Rejection::new(
                Code::HousingAuthorityUnknown,
                format!(
                    "{code} was {}, which was abolished; its area is now served by {} ({}).",
                    old.name, successor.name, successor.gss_code
                ),
            ));
        }
        if let Some((_, county)) = self.counties.iter().find(|(c, _)| *c == code) {
            return Err(Rejection::new(
                Code::HousingAuthorityNotHousingAuthority,
                format!("{code} is {county} County Council, which is not a housing authority: refer to the district council for the area the person chooses."),
            ));
        }
        if let Some(county) = self
            .abolished_counties
            .iter()
            .find(|c| c.former_code == code)
        {
            let successors: Vec<String> = county
                .successor_codes
                .iter()
                .filter_map(|c| self.get(c))
                .map(|a| format!("{} ({})", a.name, a.gss_code))
                .collect();
            return Err(Rejection::new(
                Code::HousingAuthorityUnknown,
                format!(
                    "{code} was {} County Council, which was abolished; its area is now served by the unitary {} {}: refer to the one for the area the person chooses.",
                    county.name,
                    if successors.len() == 1 { "council" } else { "councils" },
                    successors.join(" and ")
                ),
            ));
        }
        if let Some((county, boroughs)) = METROPOLITAN_COUNTIES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, n, b)| (n, b))
        {
            let names: Vec<String> = boroughs
                .iter()
                .filter_map(|b| self.get(b))
                .map(|a| format!("{} ({})", a.name, a.gss_code))
                .collect();
            return Err(Rejection::new(
                Code::HousingAuthorityNotHousingAuthority,
                format!(
                    "{code} is {county}, a metropolitan county, which is not a housing authority: refer to the borough the person chooses — {}.",
                    names.join(", ")
                ),
            ));
        }
        // L: the Channel Islands, M: the Isle of Man (ONS's pseudo-codes for the Crown
        // dependencies), as outside England as Wales, Scotland and Northern Ireland.
        if matches!(code.as_bytes()[0], b'W' | b'S' | b'N' | b'L' | b'M') {
            return Err(Rejection::new(
                Code::HousingAuthorityNotInEngland,
                format!("{code} is outside England; the s.213B duty to refer covers housing authorities in England only."),
            ));
        }
        Err(Rejection::new(
            Code::HousingAuthorityUnknown,
            format!("{code} is not the code of a current English housing authority; see GET /v1/authorities."),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_count(kind: AuthorityKind) -> usize {
        register()
            .authorities()
            .iter()
            .filter(|a| a.kind == kind)
            .count()
    }

    #[test]
    fn the_register_holds_296_authorities_by_kind() {
        assert_eq!(register().authorities().len(), 296);
        assert_eq!(kind_count(AuthorityKind::Unitary), 62);
        assert_eq!(kind_count(AuthorityKind::IslesOfScilly), 1);
        assert_eq!(kind_count(AuthorityKind::NonMetropolitanDistrict), 164);
        assert_eq!(kind_count(AuthorityKind::MetropolitanBorough), 36);
        assert_eq!(kind_count(AuthorityKind::LondonBorough), 32);
        assert_eq!(kind_count(AuthorityKind::CityOfLondon), 1);
    }

    #[test]
    fn every_code_is_unique_sorted_and_english_and_no_county_is_listed() {
        let codes: Vec<&str> = register()
            .authorities()
            .iter()
            .map(|a| a.gss_code.as_str())
            .collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(codes.iter().all(|c| ["E06", "E07", "E08", "E09"]
            .iter()
            .any(|p| c.starts_with(p))));
    }

    #[test]
    fn names_with_commas_are_read_whole() {
        assert_eq!(
            register().get("E06000058").map(|a| a.name.as_str()),
            Some("Bournemouth, Christchurch and Poole")
        );
    }

    #[test]
    fn a_current_code_resolves_case_insensitively() {
        let r = register().resolve(" e09000033 ").expect("Westminster");
        assert_eq!(r.authority.name, "Westminster");
        assert_eq!(r.former_code, None);
    }

    #[test]
    fn barnsley_and_sheffields_old_codes_resolve_to_the_same_councils() {
        let b = register().resolve("E08000016").expect("Barnsley");
        assert_eq!(b.authority.gss_code, "E08000038");
        assert_eq!(b.former_code.as_deref(), Some("E08000016"));
        let s = register().resolve("E08000019").expect("Sheffield");
        assert_eq!(s.authority.gss_code, "E08000039");
    }

    #[test]
    fn an_abolished_council_is_unknown_and_names_its_successor() {
        let e = register().resolve("E07000026").expect_err("Allerdale");
        assert_eq!(e.code, Code::HousingAuthorityUnknown);
        assert!(
            e.message.contains("Allerdale") && e.message.contains("Cumberland"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_county_council_is_not_a_housing_authority() {
        let e = register().resolve("E10000016").expect_err("Kent");
        assert_eq!(e.code, Code::HousingAuthorityNotHousingAuthority);
        assert!(e.message.contains("Kent") && e.message.contains("district council"));
        // An E10 code that never existed is no county council at all.
        let e = register().resolve("E10000099").expect_err("never a county");
        assert_eq!(e.code, Code::HousingAuthorityUnknown);
    }

    #[test]
    fn an_abolished_county_council_is_unknown_and_names_its_unitary_successors() {
        for (code, names) in [
            ("E10000006", &["Cumberland", "Westmorland and Furness"][..]),
            ("E10000023", &["North Yorkshire"][..]),
            ("E10000027", &["Somerset"][..]),
            ("E10000002", &["Buckinghamshire"][..]),
            (
                "E10000009",
                &["Dorset", "Bournemouth, Christchurch and Poole"][..],
            ),
            (
                "E10000021",
                &["North Northamptonshire", "West Northamptonshire"][..],
            ),
            // The county councils abolished on 1 April 2009.
            ("E10000001", &["Bedford", "Central Bedfordshire"][..]),
            (
                "E10000004",
                &["Cheshire East", "Cheshire West and Chester"][..],
            ),
            ("E10000005", &["Cornwall"][..]),
            ("E10000010", &["County Durham"][..]),
            ("E10000022", &["Northumberland"][..]),
            ("E10000026", &["Shropshire"][..]),
            ("E10000033", &["Wiltshire"][..]),
        ] {
            let e = register().resolve(code).expect_err(code);
            assert_eq!(e.code, Code::HousingAuthorityUnknown, "{code}");
            for name in names {
                assert!(e.message.contains(name), "{code}: {}", e.message);
            }
            assert!(!e.message.contains("district"), "{code}: {}", e.message);
        }
        // A current county council keeps its own answer.
        assert_eq!(
            register().resolve("E10000020").map_err(|e| e.code),
            Err(Code::HousingAuthorityNotHousingAuthority)
        );
    }

    #[test]
    fn every_abolished_countys_successor_is_in_the_register() {
        for county in &register().abolished_counties {
            assert!(!county.successor_codes.is_empty());
            for code in &county.successor_codes {
                assert!(register().get(code).is_some(), "{code}");
            }
            assert!(
                !register()
                    .counties
                    .iter()
                    .any(|(c, _)| *c == county.former_code),
                "{} is both current and abolished",
                county.former_code
            );
        }
    }

    #[test]
    fn a_metropolitan_county_names_its_boroughs_and_every_borough_is_a_housing_authority() {
        for (code, _, boroughs) in METROPOLITAN_COUNTIES {
            for b in *boroughs {
                assert!(
                    register().get(b).is_some(),
                    "{code}: {b} is a current authority"
                );
            }
        }
        let refused = register()
            .resolve("E11000006")
            .expect_err("not a housing authority");
        assert_eq!(refused.code, Code::HousingAuthorityNotHousingAuthority);
        for name in ["Leeds", "Bradford", "Wakefield", "Kirklees", "Calderdale"] {
            assert!(refused.message.contains(name), "{}", refused.message);
        }
    }

    #[test]
    fn crown_dependencies_are_not_in_england() {
        for code in ["L99999999", "M99999999"] {
            assert_eq!(
                register()
                    .resolve(code)
                    .map(|r| r.authority.gss_code.clone())
                    .map_err(|e| e.code),
                Err(Code::HousingAuthorityNotInEngland),
                "{code}"
            );
        }
    }

    #[test]
    fn welsh_scottish_and_northern_irish_codes_are_not_in_england() {
        for code in ["W06000015", "S12000036", "N09000003"] {
            assert_eq!(
                register().resolve(code).map_err(|e| e.code),
                Err(Code::HousingAuthorityNotInEngland)
            );
        }
    }

    #[test]
    fn anything_else_is_unknown() {
        for code in ["E09999999", "E47000001", "banana", "", "E0900003"] {
            assert_eq!(
                register().resolve(code).map_err(|e| e.code),
                Err(Code::HousingAuthorityUnknown),
                "{code}"
            );
        }
    }

    fn councils_of(district: &str) -> (Vec<&'static str>, bool) {
        let d = crate::PostcodeDistrict::parse(district).expect(district);
        let found = register().councils_in(&d).expect(district);
        (
            found
                .authorities
                .iter()
                .map(|a| a.gss_code.as_str())
                .collect(),
            found.outside_england,
        )
    }

    #[test]
    fn every_postcode_district_names_current_councils_and_every_council_has_one() {
        let r = register();
        assert_eq!(r.districts.len(), 2_951);
        assert!(r
            .districts
            .windows(2)
            .all(|w| w[0].district < w[1].district));
        let mut covered = vec![false; r.authorities.len()];
        for d in &r.districts {
            assert!(crate::PostcodeDistrict::parse(&d.district)
                .is_some_and(|p| p.as_str() == d.district));
            assert!(
                !d.authorities.is_empty() || d.outside_england,
                "{}",
                d.district
            );
            for &a in &d.authorities {
                covered[a] = true;
            }
        }
        assert!(covered.iter().all(|c| *c), "every authority has a district");
    }

    #[test]
    fn known_postcode_districts_find_their_councils() {
        assert_eq!(councils_of("LS1"), (vec!["E08000035"], false));
        assert_eq!(councils_of("ls1 4ap"), (vec!["E08000035"], false));
        assert_eq!(
            councils_of("WC1V"),
            (vec!["E09000001", "E09000007", "E09000033"], false)
        );
        // Carried forward: Sheffield's 2025 code, Northampton into West Northamptonshire (2021),
        // Carlisle into Cumberland and Harrogate into North Yorkshire (2023).
        assert_eq!(councils_of("S1"), (vec!["E08000039"], false));
        assert_eq!(councils_of("NN1"), (vec!["E06000062"], false));
        assert_eq!(councils_of("CA1"), (vec!["E06000063"], false));
        assert_eq!(councils_of("HG1"), (vec!["E06000065"], false));
        // Along the Welsh border, and wholly in Wales.
        assert_eq!(councils_of("SY10"), (vec!["E06000051"], true));
        assert_eq!(councils_of("CF10"), (vec![], true));
        // Not in the table: forces mail, and a district that does not exist.
        for unknown in ["BF1", "ZZ9"] {
            let d = crate::PostcodeDistrict::parse(unknown).expect(unknown);
            assert_eq!(register().councils_in(&d), None, "{unknown}");
        }
    }

    #[test]
    fn search_matches_names_and_code_prefixes() {
        let names: Vec<_> = register()
            .search("sheff")
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(names, vec!["Sheffield"]);
        assert_eq!(register().search("E09").count(), 33);
        assert_eq!(register().search("").count(), 296);
    }

    #[test]
    fn the_former_codes_of_re_coded_councils_are_the_same_councils() {
        for (former, current) in [
            ("E08000020", "E08000037"),
            ("E06000048", "E06000057"),
            ("E07000097", "E07000242"),
            ("E07000101", "E07000243"),
            ("E07000100", "E07000240"),
            ("E07000104", "E07000241"),
        ] {
            let found = register().resolve(former).expect(former);
            assert_eq!(found.authority.gss_code, current, "{former}");
            assert_eq!(found.former_code.as_deref(), Some(former));
            // The opposite: the current code is simply current.
            let now = register().resolve(current).expect(current);
            assert!(now.former_code.is_none(), "{current}");
        }
    }
}
