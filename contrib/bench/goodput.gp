# goodput.gp — goodput (share of the link rate) against loss, one line per
# contender. Called by lossy.sh:
#   gnuplot -e "datafile='F'; outfile='O.png'; ncols=N" goodput.gp
# F: tab-separated, header row; column 1 loss %, column 2 the scenario
# label (loss / RTT / rate), columns 3..N goodput in % of the link rate.
set terminal pngcairo size 900,540 noenhanced font ",10"
set output outfile
set datafile separator "\t"
set datafile missing "NaN"
set key outside right top title "contender"
set title "Goodput through the emulated link (one timed upload per point)"
set xlabel "scenario: loss / RTT / link rate"
set ylabel "goodput, % of link rate"
set yrange [0:105]
set grid ytics
set xtics rotate by -20
plot for [i=3:ncols] datafile using 0:i:xticlabels(2) \
	with linespoints lw 2 pt 7 title columnheader(i)
