/** The Spring Boot example: a service on embedded Jetty behind {@code JettyGuard} and the kernel guard. */
package dev.portcullis.examples.spring;
