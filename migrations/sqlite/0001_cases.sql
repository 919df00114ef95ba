-- Case store. Value sets mirror src/domain/case.rs; a test keeps them in step.
-- Multi-valued groups are bit masks in the order of the domain lists, with a
-- *_known flag: an unknown group has no bits set and is left out of its counts.

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY NOT NULL CHECK (length(case_id) BETWEEN 1 AND 64),
    person_key TEXT NOT NULL CHECK (length(person_key) BETWEEN 1 AND 128),
    registration_year INTEGER NOT NULL CHECK (registration_year BETWEEN 2000 AND 2100),
    datasource TEXT NOT NULL CHECK (datasource IN ('case_management', 'hotline')),
    gender TEXT NOT NULL CHECK (gender IN ('woman', 'man', 'trans_nonconforming', 'unknown')),
    age_broad TEXT NOT NULL CHECK (age_broad IN ('0-8', '9-17', '18-20', '21-23', '24-26', '27-29', '30-38', '39-47', '48+', 'unknown')),
    majority_status TEXT NOT NULL CHECK (majority_status IN ('adult', 'minor', 'unknown')),
    citizenship TEXT NOT NULL CHECK (citizenship = 'unknown' OR (length(citizenship) = 3 AND citizenship GLOB '[A-Z][A-Z][A-Z]')),
    country_of_exploitation TEXT NOT NULL CHECK (country_of_exploitation = 'unknown' OR (length(country_of_exploitation) = 3 AND country_of_exploitation GLOB '[A-Z][A-Z][A-Z]')),
    education TEXT NOT NULL CHECK (education IN ('none', 'primary', 'secondary', 'tertiary', 'unknown')),
    socio_economic_status TEXT NOT NULL CHECK (socio_economic_status IN ('very_poor', 'poor', 'standard', 'well_off', 'unknown')),
    traffick_months TEXT NOT NULL CHECK (traffick_months IN ('0-12', '13-24', '25+', 'unknown')),
    type_of_exploitation INTEGER NOT NULL CHECK (type_of_exploitation BETWEEN 0 AND 127),
    type_of_exploitation_known INTEGER NOT NULL CHECK (type_of_exploitation_known IN (0, 1)),
    type_of_labour INTEGER NOT NULL CHECK (type_of_labour BETWEEN 0 AND 255),
    type_of_labour_known INTEGER NOT NULL CHECK (type_of_labour_known IN (0, 1)),
    means_of_control INTEGER NOT NULL CHECK (means_of_control BETWEEN 0 AND 8191),
    means_of_control_known INTEGER NOT NULL CHECK (means_of_control_known IN (0, 1)),
    recruiter_relation INTEGER NOT NULL CHECK (recruiter_relation BETWEEN 0 AND 15),
    recruiter_relation_known INTEGER NOT NULL CHECK (recruiter_relation_known IN (0, 1)),
    assistance_received INTEGER NOT NULL CHECK (assistance_received BETWEEN 0 AND 255),
    assistance_received_known INTEGER NOT NULL CHECK (assistance_received_known IN (0, 1)),
    -- data version of the import or generation that added the case
    added_in_version BIGINT NOT NULL,
    -- an unknown group has no values
    CHECK (type_of_exploitation_known = 1 OR type_of_exploitation = 0),
    CHECK (type_of_labour_known = 1 OR type_of_labour = 0),
    CHECK (means_of_control_known = 1 OR means_of_control = 0),
    CHECK (recruiter_relation_known = 1 OR recruiter_relation = 0),
    CHECK (assistance_received_known = 1 OR assistance_received = 0)
);

-- Contribution bounding reads cases person by person, earliest first.
CREATE INDEX cases_person_order ON cases (person_key, registration_year, case_id);

-- One row: the data version, incremented by every import or generation so
-- that snapshots, deterministic noise and stored releases follow the data.
CREATE TABLE store_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    data_version BIGINT NOT NULL CHECK (data_version >= 0)
);
INSERT INTO store_meta (id, data_version) VALUES (1, 0);
