# cc_trace.gp — cc.sh's trace section: delivery and delay over time.
#   gnuplot -e "datafile='D'; probefile='P'; outfile='O.png'; cut=S" cc_trace.gp
# D: tab-separated, no header: t s, a>b Mbit/s delivered, a>b mean queue
# delay ms, a>b max queue delay ms, RTT estimate ms (propagation + both
# queues), link rate Mbit/s. P: "t s, rtt ms" of the probe (may be empty).
# S: when the rate was cut, s.
set terminal pngcairo size 900,700 noenhanced font ",10"
set output outfile
set datafile separator whitespace
set multiplot layout 2,1 title "One upload through ours, 100 ms RTT, 1% loss; rate cut at ".cut." s"
set grid
set key outside right top
set xrange [0:*]
set autoscale xfixmax
# the same plot area in both panels, whatever the keys' widths
set lmargin at screen 0.08
set rmargin at screen 0.66
set arrow 1 from cut, graph 0 to cut, graph 1 nohead dt 2 lc rgb "gray40"
set ylabel "Mbit/s"
set yrange [0:60]
plot datafile using 1:2 with lines lw 1.5 title "delivered a>b (linkem)", \
	datafile using 1:6 with steps lw 2 dt 2 title "link rate"
set ylabel "ms"
set xlabel "time since the upload started, s"
set yrange [0:*]
stats probefile using 1 nooutput
if (exists("STATS_records") && STATS_records > 0) {
	plot datafile using 1:3 with lines lw 1.5 title "queue delay a>b (mean)", \
		datafile using 1:5 with lines lw 1 title "RTT estimate (100 + queues)", \
		probefile using 1:2 with points pt 7 ps 0.4 title "probe RTT (same pair)"
} else {
	plot datafile using 1:3 with lines lw 1.5 title "queue delay a>b (mean)", \
		datafile using 1:5 with lines lw 1 title "RTT estimate (100 + queues)"
}
unset multiplot
