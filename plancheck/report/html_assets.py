"""report.html's inline stylesheet and script: the page stays one file that needs no network.

_CSS lays out the tables and control rows and, for print, expands everything and hides the filters;
_JS runs the filters (section, severity, outcome, text search) and opens every <details> while
printing. Kept apart from plancheck.report.html because they are long strings, not Python.
"""
from __future__ import annotations

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,"Noto Sans CJK KR","Malgun Gothic",sans-serif;margin:1.2em;color:#1f2328;
 overflow-wrap:anywhere}
h1{font-size:1.35em;margin:.2em 0 .4em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;table-layout:fixed;width:100%;margin:.4em 0 1em}
td,th{border:1px solid #d0d7de;padding:.25em .45em;text-align:left;vertical-align:top;overflow-wrap:anywhere;
 word-break:normal}
th{background:#f6f8fa;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere;white-space:pre-wrap}
.passed{color:#1a7f37}.failed{color:#cf222e;font-weight:600}.error{color:#bc4c00;font-weight:600}
.skipped{color:#6e7781}.waived{color:#8250df}
.badge{display:inline-block;min-width:5.5em;padding:0 .4em;border-radius:1em;font-size:12px;text-align:center;
 border:1px solid currentColor}
.sev{font-size:12px}.sev.critical{color:#fff;background:#a40e26;padding:0 .35em;border-radius:.3em}
.sev.high{color:#cf222e}.sev.medium{color:#9a6700}.sev.low{color:#57606a}
.box{padding:.5em .8em;border:1px solid;border-radius:.4em;margin:.6em 0}
.box.err{background:#ffebe9;border-color:#ff8182}.box.note{background:#fff8c5;border-color:#d4a72c}
.box ul{margin:.2em 0;padding-left:1.3em}
.filters{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;padding:.5em;background:#f6f8fa;
 border:1px solid #d0d7de;border-radius:.4em;position:sticky;top:0;z-index:1}
.filters label{white-space:nowrap}.filters input{width:18em;max-width:100%}
details.ctl{border:1px solid #d0d7de;border-radius:.35em;margin:.25em 0}
details.ctl[open]{border-color:#8c959f}
details.ctl>summary{display:grid;grid-template-columns:6.8em 7.2em 4.8em 3em minmax(0,1fr) 14em;gap:.5em;
 align-items:baseline;padding:.3em .5em;cursor:pointer;list-style:none}
details.ctl>summary::-webkit-details-marker{display:none}
details.ctl>summary .cid:before{content:"\\25B8  ";color:#57606a}
details.ctl[open]>summary .cid:before{content:"\\25BE  "}
.cid,.sev,.badge,.sec{white-space:nowrap;overflow-wrap:normal}
details.ctl.o-failed,details.ctl.o-error{background:#fff5f5}
.ttl{min-width:0}.cnt{font-size:12px;text-align:right}
.cnt span{margin-left:.5em;white-space:nowrap}
.body{padding:.2em .6em .6em}
.meta{color:#57606a;font-size:12px;margin:.2em 0}
table.items col.o{width:6.5em}table.items col.i{width:18%}table.items col.e,table.items col.f{width:22%}
table.sections col.s{width:40%}table.sev col.s{width:20%}
table.changes col.c{width:7em}table.changes col.b{width:7em}
tr.total td{font-weight:600;background:#f6f8fa}
svg.trend{width:100%;height:auto;max-width:760px;display:block}
table.sources col.s{width:9em}table.sources col.o{width:6em}table.sources col.w{width:5em}
.bar{height:.8em;background:#f6f8fa}.bar span{display:block;height:100%;background:currentColor}
details.changes>summary{cursor:pointer;margin:.3em 0}
svg.trend text{font:11px system-ui,sans-serif;fill:#57606a}
.muted{color:#6e7781}
@media print{
 .filters,.noprint{display:none!important}
 body{margin:0;font-size:11px}
 details.ctl{break-inside:avoid-page}
 details::details-content{content-visibility:visible;display:block}
 details.ctl[hidden]{display:block!important}
 tr.item[hidden]{display:table-row!important}
 a{color:inherit;text-decoration:none}
}
"""

_JS = """
(function(){
function $(id){return document.getElementById(id);}
function apply(){
 var s=$('f-section').value,v=$('f-severity').value,o=$('f-outcome').value,q=$('f-q').value.trim().toLowerCase(),n=0;
 document.querySelectorAll('details.ctl').forEach(function(d){
  var ok=(!s||d.dataset.section===s)&&(!v||d.dataset.severity===v)&&
   (!o||(' '+d.dataset.outcomes+' ').indexOf(' '+o+' ')>=0)&&(!q||d.textContent.toLowerCase().indexOf(q)>=0);
  d.hidden=!ok;if(ok)n++;
  d.querySelectorAll('tr.item').forEach(function(r){r.hidden=!!o&&r.dataset.outcome!==o;});
 });
 $('f-count').textContent=n;
}
window.plancheckFilter=function(sec){$('f-section').value=sec;apply();$('controls').scrollIntoView();};
document.addEventListener('DOMContentLoaded',function(){
 ['f-section','f-severity','f-outcome'].forEach(function(id){$(id).addEventListener('change',apply);});
 $('f-q').addEventListener('input',apply);
 $('f-reset').addEventListener('click',function(){['f-section','f-severity','f-outcome','f-q'].forEach(
  function(id){$(id).value='';});apply();});
 apply();
});
var opened=[];
window.addEventListener('beforeprint',function(){opened=[];document.querySelectorAll('details').forEach(
 function(d){if(!d.open){opened.push(d);d.open=true;}});});
window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();
"""
