// The regional partner's view: the national view for a region as a whole
// (its report, the members adding up to the regional total, and the flows
// within, into and out of the region). The two share one implementation,
// in view-national.js; this module is the regional entry of the router.

export { renderNational as renderRegional } from "./view-national.js";
