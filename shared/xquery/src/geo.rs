//! The geo operators' shapes and tests: `point_radius:[lon lat radius]`,
//! `bounding_box:[west south east north]`, and ISO 3166-1 alpha-2 country codes.

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;
const KM_PER_MILE: f64 = 1.609_344;
/// X: "Radius must be less than 25mi"; "Width and height of the bounding box must be less than 25mi".
pub const MAX_GEO_MILES: f64 = 25.0;
pub const MAX_GEO_KM: f64 = MAX_GEO_MILES * KM_PER_MILE;

/// A circle: centre longitude and latitude in decimal degrees, radius in km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointRadius {
    pub longitude: f64,
    pub latitude: f64,
    pub radius_km: f64,
}

/// A box: its south-west and north-east corners in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

/// Great-circle distance in km between two (longitude, latitude) points.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

impl PointRadius {
    /// Parses the inside of `point_radius:[...]`; the error says which documented rule is broken.
    pub fn parse(inside: &str) -> Result<Self, String> {
        let parts: Vec<&str> = inside.split_whitespace().collect();
        let [longitude, latitude, radius] = parts.as_slice() else {
            return Err("takes [longitude latitude radius], three values separated by spaces, e.g. point_radius:[2.355128 48.861118 16km]".into());
        };
        let longitude = coordinate(longitude, 180.0, "longitude")?;
        let latitude = coordinate(latitude, 90.0, "latitude")?;
        let (number, unit) = if let Some(n) = radius.strip_suffix("km") {
            (n, 1.0)
        } else if let Some(n) = radius.strip_suffix("mi") {
            (n, KM_PER_MILE)
        } else {
            return Err(format!(
                "radius '{radius}' needs a unit, mi or km (e.g. 16km, 20mi)"
            ));
        };
        let radius_km = decimal(number)
            .filter(|r| *r >= 0.0)
            .ok_or_else(|| format!("radius '{radius}' is not a number of mi or km"))?
            * unit;
        if radius_km >= MAX_GEO_KM {
            return Err(format!(
                "radius {radius} must be less than 25mi ({MAX_GEO_KM:.1}km)"
            ));
        }
        Ok(PointRadius {
            longitude,
            latitude,
            radius_km,
        })
    }

    pub fn contains(&self, point: (f64, f64)) -> bool {
        distance_km((self.longitude, self.latitude), point) <= self.radius_km
    }
}

impl BoundingBox {
    /// Parses the inside of `bounding_box:[...]`; the error says which documented rule is broken.
    pub fn parse(inside: &str) -> Result<Self, String> {
        let parts: Vec<&str> = inside.split_whitespace().collect();
        let [west, south, east, north] = parts.as_slice() else {
            return Err("takes [west_long south_lat east_long north_lat], four values separated by spaces, e.g. bounding_box:[-105.301758 39.964069 -105.178505 40.09455]".into());
        };
        let b = BoundingBox {
            west: coordinate(west, 180.0, "west longitude")?,
            south: coordinate(south, 90.0, "south latitude")?,
            east: coordinate(east, 180.0, "east longitude")?,
            north: coordinate(north, 90.0, "north latitude")?,
        };
        if b.south > b.north {
            return Err(format!(
                "the south latitude ({}) is north of the north latitude ({}); the order is [west south east north]",
                b.south, b.north
            ));
        }
        let (width, height) = (b.width_km(), b.height_km());
        if width >= MAX_GEO_KM || height >= MAX_GEO_KM {
            return Err(format!(
                "width ({:.1}mi) and height ({:.1}mi) must each be less than 25mi",
                width / KM_PER_MILE,
                height / KM_PER_MILE
            ));
        }
        Ok(b)
    }

    fn span_longitude(&self) -> f64 {
        // A west edge east of the east edge wraps across the antimeridian.
        (self.east - self.west).rem_euclid(360.0)
    }

    /// Width along the parallel nearest the equator, where the box is widest.
    pub fn width_km(&self) -> f64 {
        let widest_latitude = if self.south <= 0.0 && self.north >= 0.0 {
            0.0
        } else {
            self.south.abs().min(self.north.abs())
        };
        EARTH_RADIUS_KM * widest_latitude.to_radians().cos() * self.span_longitude().to_radians()
    }

    pub fn height_km(&self) -> f64 {
        EARTH_RADIUS_KM * (self.north - self.south).to_radians()
    }

    pub fn contains(&self, (longitude, latitude): (f64, f64)) -> bool {
        (self.south..=self.north).contains(&latitude)
            && (longitude - self.west).rem_euclid(360.0) <= self.span_longitude()
    }

    /// Whether another box (a place's) lies wholly inside this one.
    pub fn contains_box(&self, other: &BoundingBox) -> bool {
        self.contains((other.west, other.south)) && self.contains((other.east, other.north))
    }

    pub fn corners(&self) -> [(f64, f64); 4] {
        [
            (self.west, self.south),
            (self.west, self.north),
            (self.east, self.south),
            (self.east, self.north),
        ]
    }
}

fn decimal(text: &str) -> Option<f64> {
    // Decimal degrees only: no exponents, no "inf"/"NaN" that `f64::from_str` would take.
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit());
    valid.then(|| text.parse().ok()).flatten()
}

fn coordinate(text: &str, limit: f64, what: &str) -> Result<f64, String> {
    let value = decimal(text)
        .ok_or_else(|| format!("{what} '{text}' is not a number in decimal degrees"))?;
    if value.abs() > limit {
        return Err(format!("{what} {text} is outside ±{limit}"));
    }
    Ok(value)
}

/// ISO 3166-1 alpha-2, the codes `place_country:` takes.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` (any case) is an assigned ISO 3166-1 alpha-2 country code.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2
        && COUNTRY_CODES
            .split(' ')
            .any(|known| known.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iso_list_is_complete_and_well_formed() {
        let codes: Vec<&str> = COUNTRY_CODES.split(' ').collect();
        assert_eq!(codes.len(), 249, "ISO 3166-1 assigns 249 alpha-2 codes");
        assert!(
            codes.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(is_country_code("US") && is_country_code("br") && is_country_code("GB"));
        assert!(!is_country_code("UK") && !is_country_code("XX") && !is_country_code("USA"));
    }

    #[test]
    fn point_radius_follows_the_documented_rules() {
        let paris = PointRadius::parse("2.355128 48.861118 16km").expect("paris");
        assert_eq!(paris.radius_km, 16.0);
        assert!(
            PointRadius::parse("-41.287336 174.761070 20mi").is_err(),
            "latitude 174 > 90"
        );
        assert!(PointRadius::parse("174.761070 -41.287336 20mi").is_ok());
        assert!(PointRadius::parse("0 0 24.9mi").is_ok());
        assert!(PointRadius::parse("0 0 40km").is_ok(), "40 km < 25 mi");
        for bad in [
            "0 0 25mi",
            "0 0 41km",
            "0 0 10",
            "0 0 10m",
            "181 0 1km",
            "0 91 1km",
            "0 0",
            "a b 1km",
            "0 0 1e1km",
            "0 0 infkm",
        ] {
            assert!(PointRadius::parse(bad).is_err(), "{bad}");
        }
        assert!(paris.contains((2.35, 48.86)));
        assert!(!paris.contains((2.35, 49.2)), "38 km north");
    }

    #[test]
    fn bounding_box_follows_the_documented_rules() {
        let boulder =
            BoundingBox::parse("-105.301758 39.964069 -105.178505 40.09455").expect("boulder");
        assert!(boulder.width_km() < 11.0 && boulder.height_km() < 15.0);
        assert!(boulder.contains((-105.27, 40.01)));
        assert!(!boulder.contains((-105.0, 40.01)));
        assert!(
            BoundingBox::parse("-105.3 40.1 -105.2 40.0").is_err(),
            "south above north"
        );
        assert!(BoundingBox::parse("0 0 1 1").is_err(), "111 km wide");
        assert!(
            BoundingBox::parse("0 80 1.5 80.3").is_ok(),
            "1.5° of longitude is narrow at 80°N"
        );
        assert!(
            BoundingBox::parse("179.9 0 -179.9 0.1").is_ok(),
            "wraps the antimeridian"
        );
        assert!(BoundingBox::parse("0 0 0.1").is_err());
        let inner = BoundingBox {
            west: -105.25,
            south: 40.0,
            east: -105.2,
            north: 40.05,
        };
        assert!(boulder.contains_box(&inner));
        assert!(!inner.contains_box(&boulder));
    }
}
