//! Who may refer: the specified public authorities of s.213B(3) Housing Act 1996 and the Schedule to
//! the Homelessness (Review Procedure etc.) Regulations 2018 (SI 2018/223); Code of Guidance 4.3.
//! A referrer's API key carries exactly one of these, so the body never claims it.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The kind of specified public authority that makes the referral (docs/rules.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyType {
    /// Governors/directors of prisons, including contracted-out prisons.
    Prison,
    /// Governors/directors of young offender institutions.
    YoungOffenderInstitution,
    /// Governors/directors of secure training centres.
    SecureTrainingCentre,
    /// Principals of secure colleges.
    SecureCollege,
    /// Youth offending teams.
    YouthOffendingTeam,
    /// Providers of probation services.
    Probation,
    /// Jobcentre Plus officers designated by the Secretary of State for Work and Pensions.
    JobcentrePlus,
    /// Social services authorities exercising adult functions.
    AdultSocialCare,
    /// Social services authorities exercising children's functions, including children's services trusts.
    ChildrensSocialCare,
    /// NHS trusts and foundation trusts: emergency departments.
    EmergencyDepartment,
    /// NHS trusts and foundation trusts: urgent treatment centres, minor injury units, walk-in centres.
    UrgentTreatmentCentre,
    /// NHS trusts and foundation trusts: in-patient treatment (physical health).
    HospitalInpatient,
    /// NHS trusts and foundation trusts: mental health in-patient care.
    MentalHealthInpatient,
    /// The Secretary of State for Defence, for members of the regular forces.
    ArmedForces,
}

impl crate::Vocabulary for AgencyType {
    const NAME: &'static str = "AgencyType";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("prison", AgencyType::Prison),
        (
            "young_offender_institution",
            AgencyType::YoungOffenderInstitution,
        ),
        ("secure_training_centre", AgencyType::SecureTrainingCentre),
        ("secure_college", AgencyType::SecureCollege),
        ("youth_offending_team", AgencyType::YouthOffendingTeam),
        ("probation", AgencyType::Probation),
        ("jobcentre_plus", AgencyType::JobcentrePlus),
        ("adult_social_care", AgencyType::AdultSocialCare),
        ("childrens_social_care", AgencyType::ChildrensSocialCare),
        ("emergency_department", AgencyType::EmergencyDepartment),
        ("urgent_treatment_centre", AgencyType::UrgentTreatmentCentre),
        ("hospital_inpatient", AgencyType::HospitalInpatient),
        ("mental_health_inpatient", AgencyType::MentalHealthInpatient),
        ("armed_forces", AgencyType::ArmedForces),
    ];

    fn label(self) -> &'static str {
        Self::label(self)
    }
}

impl AgencyType {
    /// Every agency type, in docs/rules.md order.
    pub const ALL: [AgencyType; 14] = [
        AgencyType::Prison,
        AgencyType::YoungOffenderInstitution,
        AgencyType::SecureTrainingCentre,
        AgencyType::SecureCollege,
        AgencyType::YouthOffendingTeam,
        AgencyType::Probation,
        AgencyType::JobcentrePlus,
        AgencyType::AdultSocialCare,
        AgencyType::ChildrensSocialCare,
        AgencyType::EmergencyDepartment,
        AgencyType::UrgentTreatmentCentre,
        AgencyType::HospitalInpatient,
        AgencyType::MentalHealthInpatient,
        AgencyType::ArmedForces,
    ];

    /// In words, for people (an e-mail, the web inbox): the kind of public body that referred.
    pub fn label(self) -> &'static str {
        match self {
            AgencyType::Prison => "Prison",
            AgencyType::YoungOffenderInstitution => "Young offender institution",
            AgencyType::SecureTrainingCentre => "Secure training centre",
            AgencyType::SecureCollege => "Secure college",
            AgencyType::YouthOffendingTeam => "Youth offending team",
            AgencyType::Probation => "Probation service",
            AgencyType::JobcentrePlus => "Jobcentre Plus",
            AgencyType::AdultSocialCare => "Adult social care",
            AgencyType::ChildrensSocialCare => "Children's social care",
            AgencyType::EmergencyDepartment => "Emergency department",
            AgencyType::UrgentTreatmentCentre => "Urgent treatment centre",
            AgencyType::HospitalInpatient => "Hospital in-patient care",
            AgencyType::MentalHealthInpatient => "Mental health in-patient care",
            AgencyType::ArmedForces => "Armed forces",
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyType::Prison => "prison",
            AgencyType::YoungOffenderInstitution => "young_offender_institution",
            AgencyType::SecureTrainingCentre => "secure_training_centre",
            AgencyType::SecureCollege => "secure_college",
            AgencyType::YouthOffendingTeam => "youth_offending_team",
            AgencyType::Probation => "probation",
            AgencyType::JobcentrePlus => "jobcentre_plus",
            AgencyType::AdultSocialCare => "adult_social_care",
            AgencyType::ChildrensSocialCare => "childrens_social_care",
            AgencyType::EmergencyDepartment => "emergency_department",
            AgencyType::UrgentTreatmentCentre => "urgent_treatment_centre",
            AgencyType::HospitalInpatient => "hospital_inpatient",
            AgencyType::MentalHealthInpatient => "mental_health_inpatient",
            AgencyType::ArmedForces => "armed_forces",
        }
    }
}

/// The value is not one of the specified public authorities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a specified public authority under s.213B; expected one of: prison, young_offender_institution, secure_training_centre, secure_college, youth_offending_team, probation, jobcentre_plus, adult_social_care, childrens_social_care, emergency_department, urgent_treatment_centre, hospital_inpatient, mental_health_inpatient, armed_forces")]
pub struct UnknownAgencyType;

impl FromStr for AgencyType {
    type Err = UnknownAgencyType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyType::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAgencyType)
    }
}

impl fmt::Display for AgencyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agency_type_round_trips() {
        for a in AgencyType::ALL {
            assert_eq!(a.as_str().parse::<AgencyType>(), Ok(a));
        }
    }

    #[test]
    fn police_gps_and_charities_are_not_specified_public_authorities() {
        for s in ["police", "gp", "charity", "housing_association", "Prison"] {
            assert!(s.parse::<AgencyType>().is_err());
        }
    }
}
