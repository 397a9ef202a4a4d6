// Package gpio turns the desk phone's buttons, hook switch and LEDs on the GPIO character device into
// debounced events and blink patterns.
//
// Lines are requested through periph.io's gpioioctl driver (the Linux GPIO character device, uAPI v2)
// and looked up by the name the kernel gives them ("GPIO17" on a Raspberry Pi, or the names of a
// gpio-sim chip in tests). A line without a name can be given as "gpiochip0:17" (chip, offset).
//
// Each input is read by its own goroutine that waits for edges with a finite timeout (periph's
// GPIOLine.WaitForEdge(-1) returns at once and would spin) and feeds a pure debouncer, so one press
// that bounces for a few milliseconds gives one event. Outputs are driven by one goroutine that
// computes every LED's level from its pattern and the time since the pattern was set.
package gpio
