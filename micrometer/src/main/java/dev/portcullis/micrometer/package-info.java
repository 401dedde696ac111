/** Micrometer metrics for a running Portcullis server: {@link dev.portcullis.micrometer.PortcullisMetrics}. */
package dev.portcullis.micrometer;
