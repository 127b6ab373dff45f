# cc_fair.gp — cc.sh's fairness runs: each flow's goodput per second.
#   gnuplot -e "files='A B ...'; titles='ta|tb|...'; outfile='O.png'; warm=S" cc_fair.gp
# Each file: one block per flow ("t_s mbit" lines, blocks separated by
# two blank lines), flows numbered from 0 in order of appearance. The
# goodput figures in cc.md skip the first S seconds (marked).
set terminal pngcairo size 1000,900 noenhanced font ",9"
set output outfile
n = words(files)
set multiplot layout (n + 1) / 2, 2 title "Per-flow goodput per second (service socket bytes), 50 Mbit/s link, 50 ms RTT"
set grid
set key top right
set yrange [0:55]
set xrange [0:*]
set ylabel "Mbit/s"
set xlabel "s"
set arrow 1 from warm, graph 0 to warm, graph 1 nohead dt 2 lc rgb "gray40"
do for [i=1:n] {
	f = word(files, i)
	# the i-th "|"-separated title
	t = titles
	do for [k=2:i] { t = t[strstrt(t, "|") + 1:] }
	if (strstrt(t, "|") > 0) { t = t[1:strstrt(t, "|") - 1] }
	set title t
	stats f using 2 nooutput
	plot for [b=0:STATS_blocks - 1] f index b using 1:2 with lines lw 1.5 title sprintf("flow %d", b)
}
unset multiplot
