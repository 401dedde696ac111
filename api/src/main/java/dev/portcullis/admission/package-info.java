/**
 * The admission chain: who gets in, decided in order by the address policy (with its shadow), the
 * penalty box and the limits, with one reporter for the refusal lines, the counters and the rule
 * hits; what a transport or an adapter for another server runs in front of its handler ({@link
 * dev.portcullis.admission.AdmissionChain}).
 */
package dev.portcullis.admission;
