// The supervisor's own menu (主管 00), their home: operators added, removed, given a new
// password, listed; and 主管签退.
import { t } from "./page.js";
import { api } from "./api.js";
import { ask, choose, message, processing, refusal, twice } from "./display.js";
import { signOut } from "./signin.js";

export function supervisorMenu() {
  choose({
    name: "supervisor-menu", title: t("主管操作"),
    lines: [`1.${t("添加操作员")}`, `2.${t("删除操作员")}`, `3.${t("操作员改密")}`,
      `4.${t("查询操作员")}`, `5.${t("主管签退")}`],
    options: {
      1: () => operatorNo("add-operator", t("添加操作员"), (no) => twice({
        name: "operator-password", title: t("添加操作员"), lines: [t("请输入新密码")],
        save: (pw) => api.call("POST", "/staff", { operator_no: no, password: pw }),
        back: supervisorMenu,
      })),
      2: () => operatorNo("remove-operator", t("删除操作员"), async (no) => {
        try {
          await processing(() => api.call("DELETE", `/staff/${no}`));
          message({ name: "saved", title: t("删除操作员"), tone: "ok", lines: [t("设置成功")],
            onEnter: supervisorMenu });
        } catch (err) {
          refusal(err, supervisorMenu, supervisorMenu, { title: t("删除操作员") });
        }
      }),
      3: () => operatorNo("operator-no", t("操作员改密"), (no) => twice({
        name: "operator-password", title: t("操作员改密"), lines: [t("请输入新密码")],
        save: (pw) => api.call("PUT", `/staff/${no}/password`, { new_password: pw }),
        back: supervisorMenu,
      })),
      4: listOperators,
      5: signOut,
    },
    onCancel: supervisorMenu,
  });
}

function operatorNo(name, title, next) {
  ask({
    name, title, lines: [t("请输入操作员号码")], max: 2, onCancel: supervisorMenu,
    onEnter: (no) => (no.length === 2 ? next(no) : undefined),
  });
}

async function listOperators(page = 0) {
  let staff;
  try {
    staff = (await api.call("GET", "/staff")).staff.filter((s) => s.role === "operator" && s.active);
  } catch (err) {
    return refusal(err, supervisorMenu, supervisorMenu, { title: t("查询操作员") });
  }
  const pages = Math.max(1, Math.ceil(staff.length / 4));
  const shown = staff.slice(page * 4, page * 4 + 4).map((s) => `${s.operator_no} ${s.name}`);
  message({
    name: "operators", title: `${t("查询操作员")} ${page + 1}/${pages}`, lines: shown,
    onEnter: () => (page + 1 < pages ? listOperators(page + 1) : supervisorMenu()),
    onCancel: supervisorMenu,
  });
}
