set terminal pngcairo size 1100,660 font ",10"
set output 'bench/window.png'
set multiplot layout 2,1
set key outside right top
set grid
set xlabel 'seconds since the label PATCH (server commit)'
set ylabel 'new connections/s (100 ms bins)'
set title 'steer (steerd on both nodes), 10000 Services of iptables rules; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-steer-10000.dat' using 1:2 with steps lw 3 title 'fs5hb (relabeled)', 'bench/window-series-steer-10000.dat' using 1:3 with steps lw 1 title '5w777', 'bench/window-series-steer-10000.dat' using 1:4 with steps lw 1 title 'd296c', 'bench/window-series-steer-10000.dat' using 1:5 with steps lw 1 title 'tnc86', 'bench/window-series-steer-10000.dat' using 1:6 with steps lw 1 title 'zkw2n', 'bench/window-series-steer-10000.dat' using 1:7 with steps lw 1 dt 3 lc rgb "red" title 'errors'
set title 'kube-proxy emulation alone (min-sync-period 1 s), 10000 Services of iptables rules; relabeled pods in bold'
unset arrow
set arrow from 0.000, graph 0 to 0.000, graph 1 nohead dt 2 lc rgb "black"
plot 'bench/window-series-kube-proxy-10000.dat' using 1:2 with steps lw 3 title '529n7 (relabeled)', 'bench/window-series-kube-proxy-10000.dat' using 1:3 with steps lw 1 title '5w777', 'bench/window-series-kube-proxy-10000.dat' using 1:4 with steps lw 1 title '6k5tg', 'bench/window-series-kube-proxy-10000.dat' using 1:5 with steps lw 1 title '9v7nq', 'bench/window-series-kube-proxy-10000.dat' using 1:6 with steps lw 1 title 'fs5hb', 'bench/window-series-kube-proxy-10000.dat' using 1:7 with steps lw 1 title 'tj58w', 'bench/window-series-kube-proxy-10000.dat' using 1:8 with steps lw 1 title 'tv69r', 'bench/window-series-kube-proxy-10000.dat' using 1:9 with steps lw 1 title 'z79gl', 'bench/window-series-kube-proxy-10000.dat' using 1:10 with steps lw 1 title 'zkw2n', 'bench/window-series-kube-proxy-10000.dat' using 1:11 with steps lw 1 dt 3 lc rgb "red" title 'errors'
unset multiplot
